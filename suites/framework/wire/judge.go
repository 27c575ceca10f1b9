package wire

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Kind is what the wire showed for one flow.
type Kind string

const (
	// Plaintext: the probe's canary crossed the wire in the clear (either direction).
	Plaintext Kind = "plaintext"
	// TLS: no canary, and every connection of the flow with client payload carries TLS records
	// from its first byte: a handshake record (ClientHello) when the capture saw the connection
	// open, well-framed records when it joined a pooled connection.
	TLS Kind = "tls"
	// NoPayload: connections were attempted (SYN, RST) but the client sent no byte: the
	// connection was refused or never answered.
	NoPayload Kind = "no-payload"
	// Unrecognised: the client sent bytes that are neither the canary nor TLS.
	Unrecognised Kind = "unrecognised"
	// NothingCaptured: not one packet of the flow was captured. The capture is broken (wrong
	// interface, wrong filter, a dataplane that bypasses the node's stack): an infrastructure
	// error, never a verdict on encryption.
	NothingCaptured Kind = "nothing-captured"
)

// Flow is one client → server path as the server's node sees it: the client pod's IP and the
// server pod's IP and workload (target) port. A Service's ClusterIP is translated before the
// packet reaches the server's interface, so the pod address is what a capture filters on.
type Flow struct {
	Client netip.Addr
	Server netip.AddrPort
}

func (f Flow) String() string { return f.Client.String() + " → " + f.Server.String() }

// Cell is one probe's flow and the canary its request carries.
type Cell struct {
	Flow   Flow
	Canary string
}

// Verdict is the judgement of one cell's flow.
type Verdict struct {
	Kind Kind `json:"kind"`
	// Segments and Connections count what the capture held of the flow.
	Segments    int `json:"segments"`
	Connections int `json:"connections"`
	// Handshake is set when a ClientHello was seen; ALPN and SNI are read from it.
	Handshake bool     `json:"handshake,omitempty"`
	ALPN      []string `json:"alpn,omitempty"`
	SNI       string   `json:"sni,omitempty"`
	// Detail says in one line what decided the verdict.
	Detail string `json:"detail"`
}

// IstioALPN reports whether the ClientHello offered Istio's peer-exchange or istio protocol
// (pilot/pkg/networking/util/util.go ALPNInMeshWithMxc, ALPNInMesh).
func (v Verdict) IstioALPN() bool {
	return slices.Contains(v.ALPN, "istio-peer-exchange") || slices.Contains(v.ALPN, "istio")
}

func (v Verdict) String() string {
	s := string(v.Kind)
	if len(v.ALPN) > 0 {
		s += " (ALPN " + strings.Join(v.ALPN, ",") + ")"
	}
	return fmt.Sprintf("%s: %s", s, v.Detail)
}

// conn is one TCP connection of a flow, its two byte streams reassembled.
type conn struct {
	client             netip.AddrPort
	up, down           direction
	clientSYN, anyData bool
}

type direction struct {
	base    uint32
	hasBase bool
	segs    []Segment
}

// stream reassembles a direction from its first byte (the byte after the SYN when the SYN was
// captured, else the lowest sequence number seen), stopping at the first gap.
func (d *direction) stream() []byte {
	if len(d.segs) == 0 {
		return nil
	}
	base := d.base
	if !d.hasBase {
		base = d.segs[0].Seq
		for _, s := range d.segs[1:] {
			if int32(s.Seq-base) < 0 {
				base = s.Seq
			}
		}
	}
	segs := slices.Clone(d.segs)
	slices.SortStableFunc(segs, func(a, b Segment) int { return int(int32(a.Seq-base)) - int(int32(b.Seq-base)) })
	var out []byte
	for _, s := range segs {
		off := int(int32(s.Seq - base))
		if off < 0 || off > len(out) {
			if off > len(out) {
				break // a gap: bytes the capture missed
			}
			continue
		}
		if end := off + len(s.Payload); end > len(out) {
			out = append(out, s.Payload[len(out)-off:]...)
		}
	}
	return out
}

// connections splits the segments of one flow into connections, in the order they opened.
func connections(segs []Segment, f Flow) (conns []*conn, n int) {
	byClient := map[netip.AddrPort]*conn{}
	for _, s := range segs {
		var c *conn
		var d *direction
		switch {
		case s.Src.Addr().Unmap() == f.Client && s.Dst.Addr().Unmap() == f.Server.Addr().Unmap() && s.Dst.Port() == f.Server.Port():
			c = byClient[s.Src]
			if c == nil || (s.SYN && c.anyData) { // a new connection on a reused client port
				c = &conn{client: s.Src}
				byClient[s.Src] = c
				conns = append(conns, c)
			}
			d = &c.up
			c.clientSYN = c.clientSYN || s.SYN
		case s.Dst.Addr().Unmap() == f.Client && s.Src.Addr().Unmap() == f.Server.Addr().Unmap() && s.Src.Port() == f.Server.Port():
			c = byClient[s.Dst]
			if c == nil {
				c = &conn{client: s.Dst}
				byClient[s.Dst] = c
				conns = append(conns, c)
			}
			d = &c.down
		default:
			continue
		}
		n++
		if s.SYN {
			d.base, d.hasBase = s.Seq+1, true
		}
		if len(s.Payload) > 0 {
			d.segs = append(d.segs, s)
			c.anyData = true
		}
	}
	return conns, n
}

// Judge judges every cell of one capture. canaries of the other cells matter: a connection that
// carries another probe's canary belongs to that probe (two Service ports can share a workload
// port, hence a flow), so it never decides this cell's TLS verdict.
func Judge(segs []Segment, cells []Cell) []Verdict {
	out := make([]Verdict, len(cells))
	for i, cell := range cells {
		out[i] = judgeOne(segs, cell, cells)
	}
	return out
}

// JudgePcap reads a pcap file and judges every cell; a file that is not pcap is an error (the
// capture failed), as is every cell that comes back NothingCaptured, through Verdict.Kind.
func JudgePcap(pcap []byte, cells []Cell) ([]Verdict, error) {
	segs, err := ReadPcap(pcap)
	if err != nil {
		return nil, err
	}
	return Judge(segs, cells), nil
}

func judgeOne(segs []Segment, cell Cell, all []Cell) Verdict {
	conns, n := connections(segs, cell.Flow)
	v := Verdict{Segments: n, Connections: len(conns)}
	if n == 0 {
		v.Kind, v.Detail = NothingCaptured, fmt.Sprintf("no packet of %s in the capture", cell.Flow)
		return v
	}
	canary := []byte(cell.Canary)
	others := map[*conn]bool{}
	for _, c := range conns {
		up, down := c.up.stream(), c.down.stream()
		if bytes.Contains(up, canary) || bytes.Contains(down, canary) || rawContains(c, canary) {
			v.Kind = Plaintext
			dir := "request"
			if !bytes.Contains(up, canary) {
				dir = "response"
			}
			v.Detail = fmt.Sprintf("canary %q seen in the clear in the %s of connection from %s", cell.Canary, dir, c.client)
			return v
		}
		for _, other := range all {
			if other.Canary != cell.Canary && other.Canary != "" && (bytes.Contains(up, []byte(other.Canary)) || bytes.Contains(down, []byte(other.Canary))) {
				others[c] = true
			}
		}
	}
	tls, pooled := 0, 0
	for _, c := range conns {
		up := c.up.stream()
		if others[c] || len(up) == 0 {
			continue
		}
		ct, _, ok := recordHeader(up)
		switch {
		case c.up.hasBase && ok && ct == recordHandshake:
			hello, err := parseClientHello(up)
			if err != nil {
				v.Kind = Unrecognised
				v.Detail = fmt.Sprintf("connection from %s opens with a TLS handshake record that is not a readable ClientHello: %v", c.client, err)
				return v
			}
			if !v.Handshake {
				v.Handshake, v.ALPN, v.SNI = true, hello.ALPN, hello.SNI
			}
			tls++
		case !c.up.hasBase && tlsRecords(up):
			pooled++
		default:
			v.Kind = Unrecognised
			v.Detail = fmt.Sprintf("connection from %s: first client bytes are neither the canary nor TLS: %s", c.client, hexPrefix(up))
			return v
		}
	}
	switch {
	case tls+pooled > 0:
		v.Kind = TLS
		v.Detail = fmt.Sprintf("no canary; %d connection(s) opened with a TLS ClientHello, %d pooled connection(s) carried TLS records", tls, pooled)
	default:
		v.Kind = NoPayload
		v.Detail = fmt.Sprintf("%d connection(s), the client sent no byte", len(conns))
	}
	return v
}

// rawContains searches each captured payload on its own: a stream cut by a gap still shows a
// canary that a single segment carries.
func rawContains(c *conn, canary []byte) bool {
	for _, d := range []*direction{&c.up, &c.down} {
		for _, s := range d.segs {
			if bytes.Contains(s.Payload, canary) {
				return true
			}
		}
	}
	return false
}

func hexPrefix(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return hex.EncodeToString(b)
}
