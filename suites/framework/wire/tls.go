package wire

import (
	"encoding/binary"
	"fmt"
)

// TLS record layer (RFC 8446 section 5.1; RFC 5246 section 6.2.1): a 5-byte header of content
// type, legacy version 3.x and a length of at most 2^14 + 2048 (TLSCiphertext).
const (
	recordChangeCipherSpec = 20
	recordAlert            = 21
	recordHandshake        = 22
	recordApplicationData  = 23
	maxRecordLen           = 1<<14 + 2048

	handshakeClientHello = 1
	extServerName        = 0
	extALPN              = 16
)

// recordHeader reports whether b starts with a plausible TLS record header, and its content type.
func recordHeader(b []byte) (contentType byte, length int, ok bool) {
	if len(b) < 5 || b[1] != 3 || b[2] > 4 {
		return 0, 0, false
	}
	length = int(binary.BigEndian.Uint16(b[3:]))
	switch b[0] {
	case recordChangeCipherSpec, recordAlert, recordHandshake, recordApplicationData:
	default:
		return 0, 0, false
	}
	if length == 0 || length > maxRecordLen {
		return 0, 0, false
	}
	return b[0], length, true
}

// tlsRecords reports whether stream is a run of well-framed TLS records from its first byte (the
// last one may be cut by the end of the capture): what a pooled connection whose handshake the
// capture missed shows.
func tlsRecords(stream []byte) bool {
	n := 0
	for len(stream) >= 5 {
		_, length, ok := recordHeader(stream)
		if !ok {
			return false
		}
		n++
		if 5+length >= len(stream) {
			break
		}
		stream = stream[5+length:]
	}
	return n > 0
}

// ClientHello is what a TLS ClientHello shows in the clear.
type ClientHello struct {
	// ALPN is the client's application protocol list (RFC 7301), in its order: Istio's sidecars
	// offer istio-peer-exchange and istio (plus istio-http/1.1, istio-h2, ... for HTTP) on mTLS.
	ALPN []string
	// SNI is the server_name (RFC 6066): Istio's sidecars send outbound_.<port>_._.<host>.
	SNI string
}

// parseClientHello reads the ClientHello at the start of stream: one handshake record (or a
// message split over several, reassembled as far as the stream goes).
func parseClientHello(stream []byte) (*ClientHello, error) {
	var msg []byte
	for len(stream) >= 5 {
		ct, length, ok := recordHeader(stream)
		if !ok || ct != recordHandshake {
			break
		}
		end := min(5+length, len(stream))
		msg = append(msg, stream[5:end]...)
		stream = stream[end:]
		if len(msg) >= 4 && len(msg) >= 4+int(msg[1])<<16|int(msg[2])<<8|int(msg[3]) {
			break
		}
	}
	if len(msg) < 4 || msg[0] != handshakeClientHello {
		return nil, fmt.Errorf("first handshake message is not a ClientHello")
	}
	body := msg[4:]
	if n := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]); n < len(body) {
		body = body[:n]
	}
	r := reader{b: body}
	r.skip(2 + 32)      // legacy_version, random
	r.skip(int(r.u8())) // legacy_session_id
	r.skip(int(r.u16()))
	r.skip(int(r.u8())) // compression methods
	hello := &ClientHello{}
	exts := reader{b: r.take(int(r.u16()))}
	for !exts.bad && len(exts.b) >= 4 {
		typ, data := exts.u16(), reader{b: exts.take(int(exts.u16()))}
		switch typ {
		case extALPN:
			list := reader{b: data.take(int(data.u16()))}
			for !list.bad && len(list.b) > 0 {
				hello.ALPN = append(hello.ALPN, string(list.take(int(list.u8()))))
			}
		case extServerName:
			names := reader{b: data.take(int(data.u16()))}
			for !names.bad && len(names.b) > 0 {
				typ, name := names.u8(), names.take(int(names.u16()))
				if typ == 0 {
					hello.SNI = string(name)
				}
			}
		}
	}
	if r.bad {
		return nil, fmt.Errorf("ClientHello truncated")
	}
	return hello, nil
}

// reader reads big-endian fields; running out sets bad and yields zeros.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if n > len(r.b) {
		r.bad = true
		out := r.b
		r.b = nil
		return out
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}
func (r *reader) skip(n int) { r.take(n) }
func (r *reader) u8() byte {
	b := r.take(1)
	if len(b) < 1 {
		return 0
	}
	return b[0]
}
func (r *reader) u16() uint16 {
	b := r.take(2)
	if len(b) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}
