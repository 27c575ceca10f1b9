package wire

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// The testdata pcaps are real tcpdump 4.99.3 / libpcap 1.10.3 captures (`tcpdump -i any -U -w`)
// on this machine's loopback, of go-httpbin v2.15.0 (the fixture's binary) and Debian's curl:
//
//	plain.pcap       curl -H 'X-Canary: mtls-canary-0123456789abcdef' http://127.0.0.1:18000/headers
//	                 (Linux cooked v2, libpcap's default for -i any)
//	tls.pcap         curl -k -H 'X-Canary: mtls-canary-fedcba9876543210' https://127.0.0.1:18443/headers
//	                 (go-httpbin -https-cert-file/-https-key-file, a self-signed P-256 certificate)
//	istio-alpn.pcap  openssl s_client -alpn istio-peer-exchange,istio
//	                 -servername outbound_.8000_._.httpbin.foo.svc.cluster.local, request with canary
//	                 mtls-canary-00000000000000aa (tcpdump -y LINUX_SLL: Linux cooked v1)
//	empty.pcap       a capture whose filter matched nothing: the 24-byte header alone
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loopback(port uint16) Flow {
	lo := netip.MustParseAddr("127.0.0.1")
	return Flow{Client: lo, Server: netip.AddrPortFrom(lo, port)}
}

func judgeFile(t *testing.T, name string, cells ...Cell) []Verdict {
	t.Helper()
	v, err := JudgePcap(readTestdata(t, name), cells)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPlaintextCanarySeen(t *testing.T) {
	v := judgeFile(t, "plain.pcap", Cell{Flow: loopback(18000), Canary: "mtls-canary-0123456789abcdef"})[0]
	if v.Kind != Plaintext || v.Connections != 1 || !strings.Contains(v.Detail, "request") {
		t.Fatalf("plain.pcap: %+v, want plaintext, canary in the request, one connection", v)
	}
}

func TestTLSWithoutCanary(t *testing.T) {
	v := judgeFile(t, "tls.pcap", Cell{Flow: loopback(18443), Canary: "mtls-canary-fedcba9876543210"})[0]
	if v.Kind != TLS || !v.Handshake {
		t.Fatalf("tls.pcap: %+v, want TLS with a ClientHello", v)
	}
	// curl 7.88.1 (Debian) offers h2 and http/1.1; it sends no SNI for an IP address (RFC 6066).
	if !slices.Equal(v.ALPN, []string{"h2", "http/1.1"}) || v.SNI != "" || v.IstioALPN() {
		t.Errorf("tls.pcap ALPN %q SNI %q, want [h2 http/1.1] and no SNI", v.ALPN, v.SNI)
	}
}

func TestTLSIstioALPNAndSNI(t *testing.T) {
	v := judgeFile(t, "istio-alpn.pcap", Cell{Flow: loopback(18443), Canary: "mtls-canary-00000000000000aa"})[0]
	if v.Kind != TLS || !v.IstioALPN() || !slices.Equal(v.ALPN, []string{"istio-peer-exchange", "istio"}) {
		t.Fatalf("istio-alpn.pcap: %+v, want TLS offering istio-peer-exchange, istio", v)
	}
	if v.SNI != "outbound_.8000_._.httpbin.foo.svc.cluster.local" {
		t.Errorf("SNI %q", v.SNI)
	}
}

// A canary that is not in the capture must not turn plaintext into TLS: the plaintext capture
// judged with another canary is unrecognised (client bytes neither canary nor TLS), never TLS.
func TestPlaintextWithoutItsCanaryIsNotTLS(t *testing.T) {
	v := judgeFile(t, "plain.pcap", Cell{Flow: loopback(18000), Canary: "mtls-canary-ffffffffffffffff"})[0]
	if v.Kind != Unrecognised || !strings.Contains(v.Detail, "474554202f") { // "GET /"
		t.Fatalf("%+v, want unrecognised naming the first bytes", v)
	}
}

// A connection that carries another cell's canary belongs to that cell: two Service ports that
// share a workload port share a flow.
func TestOtherCellsConnectionIgnored(t *testing.T) {
	mine := Cell{Flow: loopback(18000), Canary: "mtls-canary-aaaaaaaaaaaaaaaa"}
	other := Cell{Flow: loopback(18000), Canary: "mtls-canary-0123456789abcdef"}
	v := judgeFile(t, "plain.pcap", mine, other)
	if v[1].Kind != Plaintext {
		t.Fatalf("other cell: %+v", v[1])
	}
	if v[0].Kind != NoPayload {
		t.Fatalf("mine: %+v, want no-payload (its only connection is the other cell's)", v[0])
	}
}

// The broken capture: an empty file, or a capture of the wrong flow, is NothingCaptured.
func TestNothingCaptured(t *testing.T) {
	cell := Cell{Flow: loopback(18000), Canary: "mtls-canary-0123456789abcdef"}
	if v := judgeFile(t, "empty.pcap", cell)[0]; v.Kind != NothingCaptured || v.Segments != 0 {
		t.Errorf("empty.pcap: %+v", v)
	}
	wrongPort := Cell{Flow: loopback(18001), Canary: cell.Canary}
	if v := judgeFile(t, "plain.pcap", wrongPort)[0]; v.Kind != NothingCaptured {
		t.Errorf("plain.pcap judged for port 18001: %+v", v)
	}
	wrongClient := Cell{Flow: Flow{Client: netip.MustParseAddr("10.244.0.9"), Server: cell.Flow.Server}, Canary: cell.Canary}
	if v := judgeFile(t, "plain.pcap", wrongClient)[0]; v.Kind != NothingCaptured {
		t.Errorf("plain.pcap judged for another client: %+v", v)
	}
}

func TestNotPcap(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("tcpdump: any: You don't have permission to capture on that device\n")} {
		if _, err := JudgePcap(b, nil); !errors.Is(err, ErrNotPcap) {
			t.Errorf("%q: %v, want ErrNotPcap", b, err)
		}
	}
}

// A pooled connection (its SYN before the capture) that carries TLS application data is TLS
// without a handshake: the server→client and client→server segments of tls.pcap after the
// handshake, as a capture that joined late sees them.
func TestPooledTLSConnection(t *testing.T) {
	segs, err := ReadPcap(readTestdata(t, "tls.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	// Drop everything up to and including the client's first two payload segments (ClientHello,
	// then its Finished): what remains starts with application data records.
	var late []Segment
	seen := 0
	for _, s := range segs {
		if s.Dst.Port() == 18443 && len(s.Payload) > 0 {
			seen++
			if seen <= 2 {
				continue
			}
		}
		if seen >= 2 && !s.SYN {
			late = append(late, s)
		}
	}
	v := Judge(late, []Cell{{Flow: loopback(18443), Canary: "mtls-canary-fedcba9876543210"}})[0]
	if v.Kind != TLS || v.Handshake {
		t.Fatalf("%+v, want TLS without a handshake", v)
	}
}

func TestReadPcapSegments(t *testing.T) {
	segs, err := ReadPcap(readTestdata(t, "plain.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 10 || !segs[0].SYN || segs[0].Dst.Port() != 18000 {
		t.Fatalf("%d segments, first %+v: want the 10 tcpdump counted, opening with the SYN to 18000", len(segs), segs[0])
	}
}

func TestFilterAndCommand(t *testing.T) {
	f := Flow{Client: netip.MustParseAddr("10.244.0.10"), Server: netip.MustParseAddrPort("10.244.0.9:8080")}
	if got := Filter([]Flow{f, f}); got != "tcp and ((host 10.244.0.10 and host 10.244.0.9 and tcp port 8080))" {
		t.Errorf("Filter = %q", got)
	}
	if c := NewCanary(); len(c) != len("mtls-canary-")+24 || c == NewCanary() {
		t.Errorf("canary %q", c)
	}
}
