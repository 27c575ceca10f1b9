// Package wire proves what crosses the network between a client pod and a server pod: it
// captures the packets (tcpdump in the server node's network namespace, from a host-network
// capture pod) while a probe carrying a unique canary string runs, and judges the bytes. A flow
// is plaintext when the canary is seen, TLS when it is not and the connection's first payload is
// a TLS handshake record (Istio's ALPN recorded from the ClientHello), and a capture that saw
// nothing of the flow is an infrastructure error, never a pass.
//
// The pcap reader and the judge are plain Go over bytes (pcap.go, judge.go, tls.go); the capture
// pod and tcpdump are capture.go.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Segment is one captured TCP segment.
type Segment struct {
	Src, Dst netip.AddrPort
	Seq      uint32
	SYN      bool
	FIN      bool
	RST      bool
	Payload  []byte
}

// Link-layer header types tcpdump writes (www.tcpdump.org/linktypes.html): Ethernet for one
// interface, Linux cooked capture v1 or v2 for `-i any` (libpcap >= 1.10 chooses v2), raw IP.
const (
	linkEthernet  = 1
	linkRaw       = 101
	linkLinuxSLL  = 113
	linkLinuxSLL2 = 276
	linkIPv4      = 228
	linkIPv6      = 229
)

// ErrNotPcap: the bytes are not a pcap file (a capture that failed before writing its header).
var ErrNotPcap = errors.New("not a pcap file")

// ReadPcap returns the TCP segments of a classic pcap file (microsecond or nanosecond, either
// byte order). Non-TCP packets are skipped; a truncated last record (tcpdump killed mid-write)
// ends the file without error; any other malformation is an error.
func ReadPcap(data []byte) ([]Segment, error) {
	if len(data) < 24 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the 24-byte file header", ErrNotPcap, len(data))
	}
	var order binary.ByteOrder
	switch magic := binary.LittleEndian.Uint32(data); magic {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: magic %#08x", ErrNotPcap, magic)
	}
	link := order.Uint32(data[20:]) & 0x0fffffff
	switch link {
	case linkEthernet, linkRaw, linkLinuxSLL, linkLinuxSLL2, linkIPv4, linkIPv6:
	default:
		return nil, fmt.Errorf("pcap link type %d is not one this reader knows (Ethernet, raw IP, Linux cooked v1/v2)", link)
	}
	var out []Segment
	for off := 24; off+16 <= len(data); {
		caplen := int(order.Uint32(data[off+8:]))
		off += 16
		if caplen > len(data)-off {
			break
		}
		pkt := data[off : off+caplen]
		off += caplen
		if seg, ok := decode(link, pkt); ok {
			out = append(out, seg)
		}
	}
	return out, nil
}

// decode strips the link header and reads an IPv4 or IPv6 TCP segment; anything else is skipped.
func decode(link uint32, pkt []byte) (Segment, bool) {
	var etherType uint16
	switch link {
	case linkEthernet:
		if len(pkt) < 14 {
			return Segment{}, false
		}
		etherType, pkt = binary.BigEndian.Uint16(pkt[12:]), pkt[14:]
		if etherType == 0x8100 && len(pkt) >= 4 { // one 802.1Q tag
			etherType, pkt = binary.BigEndian.Uint16(pkt[2:]), pkt[4:]
		}
	case linkLinuxSLL: // 16 bytes, protocol at 14
		if len(pkt) < 16 {
			return Segment{}, false
		}
		etherType, pkt = binary.BigEndian.Uint16(pkt[14:]), pkt[16:]
	case linkLinuxSLL2: // 20 bytes, protocol at 0
		if len(pkt) < 20 {
			return Segment{}, false
		}
		etherType, pkt = binary.BigEndian.Uint16(pkt[0:]), pkt[20:]
	case linkRaw, linkIPv4, linkIPv6:
		if len(pkt) == 0 {
			return Segment{}, false
		}
		switch pkt[0] >> 4 {
		case 4:
			etherType = 0x0800
		case 6:
			etherType = 0x86dd
		}
	}
	var src, dst netip.Addr
	var tcp []byte
	switch etherType {
	case 0x0800:
		if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != 6 {
			return Segment{}, false
		}
		ihl := int(pkt[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(pkt[2:]))
		if ihl < 20 || total < ihl || total > len(pkt) {
			total = len(pkt) // offloaded packets can carry a 0 total length
		}
		if ihl > total || binary.BigEndian.Uint16(pkt[6:])&0x1fff != 0 {
			return Segment{}, false // not a first fragment
		}
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		tcp = pkt[ihl:total]
	case 0x86dd:
		if len(pkt) < 40 || pkt[6] != 6 { // no extension headers on pod-to-pod TCP
			return Segment{}, false
		}
		plen := int(binary.BigEndian.Uint16(pkt[4:]))
		if 40+plen > len(pkt) || plen == 0 {
			plen = len(pkt) - 40
		}
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
		tcp = pkt[40 : 40+plen]
	default:
		return Segment{}, false
	}
	if len(tcp) < 20 {
		return Segment{}, false
	}
	dataOff := int(tcp[12]>>4) * 4
	if dataOff < 20 || dataOff > len(tcp) {
		return Segment{}, false
	}
	flags := tcp[13]
	return Segment{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:])),
		Seq:     binary.BigEndian.Uint32(tcp[4:]),
		FIN:     flags&0x01 != 0,
		SYN:     flags&0x02 != 0,
		RST:     flags&0x04 != 0,
		Payload: tcp[dataOff:],
	}, true
}
