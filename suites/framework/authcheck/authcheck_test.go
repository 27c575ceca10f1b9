package authcheck

// The dumps under testdata/ are Istio's own output: tools/istiogen records them from Istio's
// config generator (pilot/test/xds at the pinned istio.io/istio) and its TestRecordedDumps
// fails when they drift from what that generator produces. The certificates in them are issued
// by Istio's CA code (security/pkg/pki/util) with a fixed validity window.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

func load(t *testing.T, name string) *Dump {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseConfigDump(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// Pod IPs the recorder gives the fixture pods (tools/istiogen/harness/world.go).
var (
	httpbinFooIP    = netip.MustParseAddr("10.244.1.11")
	sleepFooIP      = netip.MustParseAddr("10.244.1.12")
	httpbinBarIP    = netip.MustParseAddr("10.244.2.11")
	httpbinLegacyIP = netip.MustParseAddr("10.244.3.11")
)

func TestParseConfigDumpReadsEverySection(t *testing.T) {
	d := load(t, "baseline_sleep.foo")
	if got := len(d.Listeners); got != 5 {
		t.Errorf("%d listeners, want 5 (virtualOutbound, virtualInbound, 0.0.0.0_8000/8080/9080)", got)
	}
	if got := len(d.Clusters); got != 12 {
		t.Errorf("%d clusters, want 12", got)
	}
	if len(d.Endpoints) == 0 {
		t.Error("no endpoints read")
	}
	if len(d.Secrets) != 2 || d.Secrets[0].Name != "default" || d.Secrets[1].Name != "ROOTCA" {
		t.Errorf("secrets = %v, want default and ROOTCA", secretNames(d.Secrets))
	}
	if want := []netip.Addr{sleepFooIP}; !reflect.DeepEqual(d.NodeIPs, want) {
		t.Errorf("node IPs = %v, want %v", d.NodeIPs, want)
	}
}

func secretNames(ss []Secret) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func TestInboundModes(t *testing.T) {
	strict := func(port int) InboundPort {
		return InboundPort{Port: port, AcceptsMTLS: true, RequiresClientCert: true, Certificate: "default", Mode: ModeStrict}
	}
	permissive := func(port int) InboundPort {
		return InboundPort{Port: port, AcceptsMTLS: true, AcceptsPlaintext: true, RequiresClientCert: true, Certificate: "default", Mode: ModePermissive}
	}
	disable := func(port int) InboundPort {
		return InboundPort{Port: port, AcceptsPlaintext: true, Certificate: "none", Mode: ModeDisable}
	}
	cases := []struct {
		dump string
		want []InboundPort
	}{
		// No PeerAuthentication: Istio's default is PERMISSIVE on every port
		// (istio/istio pilot/pkg/model/authentication.go, mesh UNSET = PERMISSIVE).
		{"baseline_httpbin.foo", []InboundPort{permissive(8000), permissive(8080), permissive(0)}},
		{"namespace-strict_httpbin.foo", []InboundPort{strict(8000), strict(8080), strict(0)}},
		// Workload STRICT with portLevelMtls 8080: DISABLE; ports without a Service target keep
		// the workload mode.
		{"port-level_httpbin.foo", []InboundPort{strict(8000), disable(8080), strict(0)}},
		{"destination-rules_httpbin.bar", []InboundPort{strict(8000), strict(8080), strict(0)}},
		// A pod no Service selects gets only the catch-all chains
		// (pilot/pkg/networking/core/listener_inbound.go).
		{"baseline_sleep.foo", []InboundPort{permissive(0)}},
	}
	for _, tc := range cases {
		t.Run(tc.dump, func(t *testing.T) {
			got, err := load(t, tc.dump).InboundPorts()
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				// Chain names are Istio's to choose; what they accept is asserted above.
				if (got[i].AcceptsMTLS && got[i].MTLSChain == "") || (got[i].AcceptsPlaintext && got[i].PlaintextChain == "") {
					t.Errorf("port %d accepted without naming the chain: %+v", got[i].Port, got[i])
				}
				got[i].MTLSChain, got[i].PlaintextChain = "", ""
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("inbound =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestInboundOnPortWithoutChainsUsesCatchAll(t *testing.T) {
	// 9090 has no Service target on httpbin.foo: it falls to the catch-all chains.
	got, err := load(t, "port-level_httpbin.foo").Inbound(9090)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != ModeStrict || got.AcceptsPlaintext {
		t.Errorf("port 9090 = %+v, want STRICT like the catch-all", got)
	}
}

func TestOutbound(t *testing.T) {
	type row struct {
		sends     Sends
		cert      string
		validate  bool
		sans      []string
		endpoints []EndpointTLS
	}
	id := func(ns string) []string { return []string{"spiffe://cluster.local/ns/" + ns + "/sa/httpbin"} }
	ep := func(ip netip.Addr, port int, mtls bool) []EndpointTLS {
		return []EndpointTLS{{Address: netip.AddrPortFrom(ip, uint16(port)).String(), MTLS: mtls}}
	}
	cases := []struct {
		dump string
		want map[string]row // cluster name → what the client does
	}{
		// Auto mTLS: mTLS to endpoints with a sidecar (tlsMode=istio), plaintext to legacy
		// (pilot/pkg/xds/endpoints/mtls_checker.go). Service port 9080 targets workload port 8080.
		{"baseline_sleep.foo", map[string]row{
			"outbound|8000||httpbin.foo.svc.cluster.local":    {SendsAutoMTLS, "default", true, id("foo"), ep(httpbinFooIP, 8000, true)},
			"outbound|9080||httpbin.foo.svc.cluster.local":    {SendsAutoMTLS, "default", true, id("foo"), ep(httpbinFooIP, 8080, true)},
			"outbound|8080||httpbin.bar.svc.cluster.local":    {SendsAutoMTLS, "default", true, id("bar"), ep(httpbinBarIP, 8080, true)},
			"outbound|8000||httpbin.legacy.svc.cluster.local": {SendsAutoMTLS, "default", true, id("legacy"), ep(httpbinLegacyIP, 8000, false)},
		}},
		// bar DISABLE: Istio builds bar's clusters without TLS at all.
		{"bar-disable_sleep.foo", map[string]row{
			"outbound|8000||httpbin.bar.svc.cluster.local": {SendsPlaintext, "none", false, nil, ep(httpbinBarIP, 8000, false)},
			"outbound|8000||httpbin.foo.svc.cluster.local": {SendsAutoMTLS, "default", true, id("foo"), ep(httpbinFooIP, 8000, true)},
		}},
		// DestinationRules: ISTIO_MUTUAL to legacy for every endpoint, DISABLE to bar.
		{"destination-rules_sleep.foo", map[string]row{
			"outbound|8000||httpbin.legacy.svc.cluster.local": {SendsIstioMTLS, "default", true, id("legacy"), ep(httpbinLegacyIP, 8000, true)},
			"outbound|8000||httpbin.bar.svc.cluster.local":    {SendsPlaintext, "none", false, nil, ep(httpbinBarIP, 8000, false)},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.dump, func(t *testing.T) {
			out, err := load(t, tc.dump).Outbound()
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 9 {
				t.Errorf("%d outbound clusters, want 9 (3 Services × 3 ports)", len(out))
			}
			seen := 0
			for _, c := range out {
				w, ok := tc.want[c.Name]
				if !ok {
					continue
				}
				seen++
				got := row{c.Sends, c.Certificate, c.ValidatePeer, c.PeerSANs, c.Endpoints}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("%s = %+v, want %+v", c.Name, got, w)
				}
				host, port, subset, ok := ParseOutboundName(c.Name)
				if !ok || host != c.Host || port != c.Port || subset != "" {
					t.Errorf("%s parsed as %s:%d subset %q", c.Name, c.Host, c.Port, c.Subset)
				}
			}
			if seen != len(tc.want) {
				t.Errorf("found %d of the %d expected clusters", seen, len(tc.want))
			}
		})
	}
}

func TestCertificates(t *testing.T) {
	raw, err := os.ReadFile("testdata/namespace-strict_httpbin.foo.json")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := load(t, "namespace-strict_httpbin.foo").Certificates()
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 1 {
		t.Fatalf("%d certificates, want the workload certificate only (ROOTCA is a trust anchor)", len(certs))
	}
	c := certs[0]
	notBefore := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	want := Certificate{
		Secret:    "default",
		SPIFFE:    "spiffe://cluster.local/ns/foo/sa/httpbin",
		URIs:      []string{"spiffe://cluster.local/ns/foo/sa/httpbin"},
		NotBefore: notBefore,
		NotAfter:  notBefore.Add(24 * time.Hour),
		// Istio's default workload certificate TTL is 24 h (seed 004; istio-agent SECRET_TTL).
		Validity: 24 * time.Hour,
		// Istio's self-signed root is O=<trust domain>.
		Issuer: "O=cluster.local",
		SHA256: leafDigestFromRawDump(t, raw),
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("certificate =\n%+v\nwant\n%+v", c, want)
	}
}

// leafDigestFromRawDump digs the workload certificate out of the dump's JSON without the
// engine and hashes its DER, the way Envoy computes XFCC's Hash.
func leafDigestFromRawDump(t *testing.T, raw []byte) string {
	t.Helper()
	var doc struct {
		Configs []struct {
			Type    string `json:"@type"`
			Secrets []struct {
				Name   string `json:"name"`
				Secret struct {
					TLSCertificate struct {
						CertificateChain struct {
							InlineBytes string `json:"inlineBytes"`
						} `json:"certificateChain"`
					} `json:"tlsCertificate"`
				} `json:"secret"`
			} `json:"dynamicActiveSecrets"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Configs {
		for _, s := range c.Secrets {
			if s.Name != "default" {
				continue
			}
			chain, err := base64.StdEncoding.DecodeString(s.Secret.TLSCertificate.CertificateChain.InlineBytes)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(chain)
			sum := sha256.Sum256(block.Bytes)
			return hex.EncodeToString(sum[:])
		}
	}
	t.Fatal("no default secret in the raw dump")
	return ""
}

func TestDeriveProbe(t *testing.T) {
	fooHost, barHost, legacyHost := "httpbin.foo.svc.cluster.local", "httpbin.bar.svc.cluster.local", "httpbin.legacy.svc.cluster.local"
	fooID, barID, legacyID := "spiffe://cluster.local/ns/foo/sa/httpbin", "spiffe://cluster.local/ns/bar/sa/httpbin", "spiffe://cluster.local/ns/legacy/sa/httpbin"
	cases := []struct {
		name           string
		client, server string // dump names; "" = no sidecar
		host           string
		port, target   int
		ip             netip.Addr
		serverID       string
		want           scenarios.Class
		sends          string
	}{
		{"sidecar to STRICT", "baseline_sleep.foo", "namespace-strict_httpbin.foo", fooHost, 8000, 8000, httpbinFooIP, fooID, scenarios.ClassMTLS, "mtls"},
		{"sidecar to PERMISSIVE via Service port 9080", "baseline_sleep.foo", "baseline_httpbin.foo", fooHost, 9080, 8080, httpbinFooIP, fooID, scenarios.ClassMTLS, "mtls"},
		{"no sidecar to STRICT", "", "namespace-strict_httpbin.foo", fooHost, 8000, 8000, httpbinFooIP, fooID, scenarios.ClassReset, "plaintext"},
		{"no sidecar to PERMISSIVE", "", "baseline_httpbin.foo", fooHost, 8000, 8000, httpbinFooIP, fooID, scenarios.ClassPlaintext, "plaintext"},
		{"no sidecar to port-level DISABLE", "", "port-level_httpbin.foo", fooHost, 8080, 8080, httpbinFooIP, fooID, scenarios.ClassPlaintext, "plaintext"},
		{"mTLS into DISABLE port", "baseline_sleep.foo", "port-level_httpbin.foo", fooHost, 8080, 8080, httpbinFooIP, fooID, scenarios.ClassUpstreamError, "mtls"},
		{"DR DISABLE into STRICT", "destination-rules_sleep.foo", "destination-rules_httpbin.bar", barHost, 8000, 8000, httpbinBarIP, barID, scenarios.ClassUpstreamError, "plaintext"},
		{"DR ISTIO_MUTUAL to no sidecar", "destination-rules_sleep.foo", "", legacyHost, 8000, 8000, httpbinLegacyIP, legacyID, scenarios.ClassUpstreamError, "mtls"},
		{"auto mTLS to no sidecar", "baseline_sleep.foo", "", legacyHost, 8000, 8000, httpbinLegacyIP, legacyID, scenarios.ClassPlaintext, "plaintext"},
		{"server identity the client does not accept", "baseline_sleep.foo", "namespace-strict_httpbin.foo", fooHost, 8000, 8000, httpbinFooIP, "spiffe://cluster.local/ns/foo/sa/impostor", scenarios.ClassUpstreamError, "mtls"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := ProbeInput{
				Cluster:        OutboundName(tc.host, tc.port),
				Endpoint:       netip.AddrPortFrom(tc.ip, uint16(tc.target)),
				ServerIdentity: tc.serverID,
			}
			if tc.client != "" {
				in.Client = load(t, tc.client)
			}
			if tc.server != "" {
				in.Server = load(t, tc.server)
			}
			d, err := DeriveProbe(in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Class != tc.want || d.Sends != tc.sends {
				t.Errorf("got %s (sends %s, chain %q: %s), want %s (sends %s)", d.Class, d.Sends, d.Chain, d.Reason, tc.want, tc.sends)
			}
		})
	}
}

func TestDeriveProbeNeedsEndpointsForAutoMTLS(t *testing.T) {
	d := load(t, "baseline_sleep.foo")
	d.Endpoints = nil
	_, err := DeriveProbe(ProbeInput{Client: d, Cluster: OutboundName("httpbin.foo.svc.cluster.local", 8000),
		Endpoint: netip.AddrPortFrom(httpbinFooIP, 8000)})
	if err == nil || !strings.Contains(err.Error(), ErrNoEndpoints.Error()) {
		t.Fatalf("err = %v, want %v", err, ErrNoEndpoints)
	}
}

func TestWriteTable(t *testing.T) {
	r, err := Analyze("httpbin-0.foo", load(t, "port-level_httpbin.foo"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(buf.String(), "\n") {
		rows[strings.Join(strings.Fields(line), " ")] = true
	}
	for _, want := range []string{
		"Proxy httpbin-0.foo",
		"Checked 3/5 listeners with node IP 10.244.1.11.",
		"LISTENER CERTIFICATE mTLS (MODE)",
		"10.244.1.11_8000 default yes (STRICT)",
		"10.244.1.11_8080 none no (DISABLE)",
		"10.244.1.11_* default yes (STRICT)",
		"Checked 9/14 outbound clusters.",
		"HOST:PORT CERTIFICATE VALIDATE PEER SENDS",
		"httpbin.foo:8080 default spiffe://cluster.local/ns/foo/sa/httpbin AUTO (10.244.1.11:8080=plaintext)",
		"httpbin.legacy:8000 default spiffe://cluster.local/ns/legacy/sa/httpbin AUTO (10.244.3.11:8000=plaintext)",
		"default spiffe://cluster.local/ns/foo/sa/httpbin 2026-11-02T09:00:00Z 2026-11-03T09:00:00Z 24h0m0s O=cluster.local",
	} {
		if !rows[want] {
			t.Errorf("table lacks row %q:\n%s", want, buf.String())
		}
	}

	// PERMISSIVE shows the seed's two rows per port: the mTLS chain and the plaintext chain.
	r, err = Analyze("", load(t, "baseline_httpbin.foo"))
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10.244.1.11_8000[0] default yes (PERMISSIVE)", "10.244.1.11_8000[1] none no (PERMISSIVE)"} {
		if !strings.Contains(strings.Join(strings.Fields(buf.String()), " "), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestWriteJSON(t *testing.T) {
	r, err := Analyze("httpbin-0.foo", load(t, "namespace-strict_httpbin.foo"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []*Report{r}); err != nil {
		t.Fatal(err)
	}
	var doc []struct {
		Proxy   string `json:"proxy"`
		Sidecar bool   `json:"sidecar"`
		Inbound []struct {
			Port int    `json:"port"`
			Mode string `json:"mode"`
		} `json:"inbound"`
		Certificates []struct {
			SPIFFE   string `json:"spiffe"`
			Validity int64  `json:"validity"`
		} `json:"certificates"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc) != 1 || doc[0].Proxy != "httpbin-0.foo" || !doc[0].Sidecar || len(doc[0].Inbound) != 3 ||
		doc[0].Inbound[0].Port != 8000 || doc[0].Inbound[0].Mode != "STRICT" ||
		len(doc[0].Certificates) != 1 || doc[0].Certificates[0].SPIFFE != "spiffe://cluster.local/ns/foo/sa/httpbin" ||
		doc[0].Certificates[0].Validity != int64(24*time.Hour) {
		t.Errorf("JSON = %s", buf.String())
	}
}

func TestParseConfigDumpKeepsGoingPastUnknownExtensions(t *testing.T) {
	// A listener carrying a typed config this build cannot know (a Wasm or Istio-specific
	// filter, or one newer than go-control-plane) must not make the dump unreadable.
	dump := `{"configs": [{
	  "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
	  "dynamicListeners": [{"name": "virtualInbound", "activeState": {"listener": {
	    "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
	    "name": "virtualInbound",
	    "trafficDirection": "INBOUND",
	    "filterChains": [{"name": "plain", "filters": [{"name": "x", "typedConfig": {
	      "@type": "type.googleapis.com/example.future.v9.Unknown", "someField": {"nested": [1, 2]}}}]}]
	  }}}]
	}]}`
	d, err := ParseConfigDump([]byte(dump))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Inbound(8000)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != ModeDisable || got.PlaintextChain != "plain" {
		t.Errorf("inbound = %+v, want DISABLE through chain plain", got)
	}
	if _, err := ParseConfigDump([]byte(`{"configs": [`)); err == nil {
		t.Error("truncated dump parsed without error")
	}
}
