package ztunnel

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// TestJudgeConstructedDump: a dump shaped as ztunnel writes it — the static STRICT policy on
// httpbin.foo, a converted port-level policy (STRICT except 8080) on httpbin.bar, legacy not in
// the mesh — gives every outcome class ambient has.
func TestJudgeConstructedDump(t *testing.T) {
	d := readDump(t, "testdata/constructed.json")
	cases := []struct {
		from, to string
		port     int
		want     scenarios.Class
		mtls     bool
	}{
		{"foo/sleep-0", "foo/httpbin-0", 8000, scenarios.ClassHBONE, true},
		{"legacy/sleep-0", "foo/httpbin-0", 8000, scenarios.ClassReset, false},
		{"legacy/sleep-0", "bar/httpbin-0", 8000, scenarios.ClassReset, false},
		{"legacy/sleep-0", "bar/httpbin-0", 8080, scenarios.ClassPlaintext, false},
		{"foo/sleep-0", "bar/httpbin-0", 8000, scenarios.ClassHBONE, true},
		{"foo/sleep-0", "legacy/httpbin-0", 8000, scenarios.ClassPlaintext, false},
		{"legacy/sleep-0", "legacy/httpbin-0", 8000, scenarios.ClassPlaintext, false},
	}
	for _, c := range cases {
		fns, fpod, _ := strings.Cut(c.from, "/")
		tns, tpod, _ := strings.Cut(c.to, "/")
		j, err := d.Judge(Probe{ClientNamespace: fns, ClientPod: fpod, ServerNamespace: tns, ServerPod: tpod, TargetPort: c.port})
		if err != nil {
			t.Fatal(err)
		}
		if j.Class != c.want || j.MTLS != c.mtls {
			t.Errorf("%s → %s:%d: %s (mTLS %t, %s), want %s (mTLS %t)", c.from, c.to, c.port, j.Class, j.MTLS, j.Reason, c.want, c.mtls)
		}
	}
}

// TestParseMapForm: older ztunnels wrote workloads and policies as maps keyed by address/name.
func TestParseMapForm(t *testing.T) {
	d, err := Parse([]byte(`{"workloads": {"10.0.0.1": {"name": "a", "namespace": "n", "protocol": "TCP", "workloadIps": ["10.0.0.1"]}},
	  "policies": {"n/p": {"name": "p", "namespace": "n", "scope": "Namespace", "action": "Allow", "rules": []}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Workloads) != 1 || len(d.Policies) != 1 {
		t.Fatalf("got %d workloads, %d policies", len(d.Workloads), len(d.Policies))
	}
	// An ALLOW policy with no rules matches nothing: everything to namespace n is denied.
	if dec := d.Authorize(d.Workloads[0], Connection{DstPort: 80}); dec.Allowed {
		t.Errorf("allow-nothing policy allowed the connection: %s", dec.Reason)
	}
}

func TestParseRejects(t *testing.T) {
	for name, raw := range map[string]string{
		"not JSON":           `{`,
		"no workloads":       `{"policies": []}`,
		"unknown match kind": `{"workloads": [{"name": "a", "namespace": "n", "protocol": "HBONE"}], "policies": [{"name": "p", "namespace": "n", "scope": "Namespace", "action": "Deny", "rules": [[[{"notPrincipals": [{"Regex": "x"}]}]]]}]}`,
	} {
		if _, err := Parse([]byte(raw)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// waypointDump reads testdata/waypoint.json: a dump shaped as ztunnel writes it with services,
// where httpbin.foo's waypoint is addressed by hostname (as istiod writes a Gateway's hostname
// status address: pilot/pkg/serviceregistry/ambient/waypoints.go getGatewayAddress) and
// httpbin.bar's, under the static STRICT policy, by its Service VIP.
func waypointDump(t *testing.T) *Dump {
	t.Helper()
	return readDump(t, "testdata/waypoint.json")
}

// readDump parses the ztunnel config dump stored at path.
func readDump(t *testing.T, path string) *Dump {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// probe is the matrix's probe from client (namespace/pod) to the Service httpbin of ns, whose
// pod is httpbin-0, on target port 8080.
func probe(client, ns string) Probe {
	cns, cpod, _ := strings.Cut(client, "/")
	return Probe{ClientNamespace: cns, ClientPod: cpod, ServerNamespace: ns, ServerPod: "httpbin-0",
		ServiceNamespace: ns, ServiceName: "httpbin", TargetPort: 8080}
}

// TestParseServices: the services of a dump, with their waypoints, ports and endpoints.
func TestParseServices(t *testing.T) {
	d := waypointDump(t)
	svc, ok, err := d.Service("foo", "httpbin")
	if err != nil || !ok {
		t.Fatalf("Service foo/httpbin: %t, %v", ok, err)
	}
	if svc.Waypoint == nil || svc.Waypoint.Destination != "foo/waypoint.foo.svc.cluster.local" || svc.Waypoint.HBONEMTLSPort != 15008 {
		t.Errorf("waypoint: %+v", svc.Waypoint)
	}
	if svc.Hostname != "httpbin.foo.svc.cluster.local" || len(svc.VIPs) != 1 || svc.VIPs[0] != "/10.96.1.12" || svc.Ports[8000] != 8080 {
		t.Errorf("service: %+v", svc)
	}
	if wp, _, _ := d.Service("foo", "waypoint"); wp.Waypoint != nil || wp.Endpoints["Kubernetes//Pod/foo/waypoint-7c9d8f6b5-x2x4q"].WorkloadUID == "" {
		t.Errorf("waypoint Service: %+v", wp)
	}
}

// TestJudgeViaWaypoint: a mesh client's connection to a Service with a waypoint is judged as the
// server's ztunnel sees the waypoint's HBONE (its identity, with or without a STRICT policy, which
// only denies a connection without one); a client outside the mesh is judged as before, the
// waypoint playing no part (inbound_passthrough.rs); a Service without one, as before.
func TestJudgeViaWaypoint(t *testing.T) {
	d := waypointDump(t)
	cases := []struct {
		name     string
		p        Probe
		class    scenarios.Class
		mtls     bool
		waypoint string
		id       string
	}{
		{"waypoint by hostname, no policy", probe("foo/sleep-0", "foo"), scenarios.ClassHBONE, true, "foo/waypoint-7c9d8f6b5-x2x4q", "spiffe://cluster.local/ns/foo/sa/waypoint"},
		{"waypoint by VIP, STRICT", probe("foo/sleep-0", "bar"), scenarios.ClassHBONE, true, "bar/waypoint-0", "spiffe://cluster.local/ns/bar/sa/waypoint"},
		{"plaintext client, STRICT", probe("legacy/sleep-0", "bar"), scenarios.ClassReset, false, "", ""},
		{"plaintext client, no policy", probe("legacy/sleep-0", "foo"), scenarios.ClassPlaintext, false, "", ""},
		{"no waypoint, server outside the mesh", probe("foo/sleep-0", "legacy"), scenarios.ClassPlaintext, false, "", ""},
	}
	for _, c := range cases {
		j, err := d.Judge(c.p)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if j.Class != c.class || j.MTLS != c.mtls || j.Waypoint != c.waypoint || j.WaypointIdentity != c.id {
			t.Errorf("%s: %s (mTLS %t, waypoint %q %q: %s), want %s (mTLS %t, waypoint %q %q)", c.name, j.Class, j.MTLS, j.Waypoint, j.WaypointIdentity, j.Reason, c.class, c.mtls, c.waypoint, c.id)
		}
		if u := d.Unknown(c.p); u != "" {
			t.Errorf("%s: unknown %s", c.name, u)
		}
	}

	// Without the STRICT policy the plaintext client reaches bar's pod directly too.
	open := waypointDump(t)
	for i := range open.Workloads {
		open.Workloads[i].AuthorizationPolicies = nil
	}
	if j, err := open.Judge(probe("legacy/sleep-0", "bar")); err != nil || j.Class != scenarios.ClassPlaintext || j.Waypoint != "" {
		t.Errorf("plaintext client, no policy, to a VIP-addressed waypoint's Service: %+v, %v", j, err)
	}

	// A waypoint addressed by its pod's IP (a workload, not a Service).
	byIP := waypointDump(t)
	byIP.Services[2].Waypoint = &GatewayAddress{Destination: "/10.244.1.20", HBONEMTLSPort: 15008}
	if j, err := byIP.Judge(probe("foo/sleep-0", "foo")); err != nil || j.Waypoint != "foo/waypoint-7c9d8f6b5-x2x4q" {
		t.Errorf("waypoint by workload IP: %+v, %v", j, err)
	}

	// Two waypoint replicas: the same answer for either.
	two := waypointDump(t)
	second := two.Workloads[2]
	second.UID, second.Name, second.WorkloadIPs = "Kubernetes//Pod/foo/waypoint-7c9d8f6b5-aaaaa", "waypoint-7c9d8f6b5-aaaaa", []string{"10.244.1.21"}
	two.Workloads = append(two.Workloads, second)
	two.Services[3].Endpoints = map[string]Endpoint{"a": {WorkloadUID: second.UID}, "b": {WorkloadUID: two.Workloads[2].UID}}
	if j, err := two.Judge(probe("foo/sleep-0", "foo")); err != nil || j.Waypoint != "foo/waypoint-7c9d8f6b5-aaaaa" || !strings.Contains(j.Reason, "all 2 waypoint workloads") {
		t.Errorf("two waypoint replicas: %+v, %v", j, err)
	}
}

// TestJudgeViaWaypointErrors: what the engine cannot judge through a waypoint is an error naming
// it, never a guess; what a ztunnel may still receive is also named by Unknown.
func TestJudgeViaWaypointErrors(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(d *Dump)
		p       Probe
		err     string
		unknown string
	}{
		{"unresolvable hostname", func(d *Dump) {
			d.Services[2].Waypoint.Destination = "foo/missing.foo.svc.cluster.local"
		}, probe("foo/sleep-0", "foo"), "waypoint foo/missing.foo.svc.cluster.local of Service foo/httpbin does not resolve", "waypoint foo/missing.foo.svc.cluster.local of Service foo/httpbin"},
		{"unresolvable address", func(d *Dump) {
			d.Services[0].Waypoint.Destination = "/10.96.2.99"
		}, probe("foo/sleep-0", "bar"), "waypoint /10.96.2.99 of Service bar/httpbin does not resolve", "waypoint /10.96.2.99 of Service bar/httpbin"},
		{"waypoint Service without the HBONE port", func(d *Dump) {
			d.Services[3].Ports = map[uint16]uint16{15021: 15021}
		}, probe("foo/sleep-0", "foo"), "waypoint foo/waypoint.foo.svc.cluster.local of Service foo/httpbin does not resolve", "waypoint foo/waypoint.foo.svc.cluster.local of Service foo/httpbin"},
		{"waypoint's pod unknown", func(d *Dump) {
			d.Workloads = d.Workloads[:2]
		}, probe("foo/sleep-0", "foo"), "does not resolve", "waypoint foo/waypoint.foo.svc.cluster.local of Service foo/httpbin"},
		{"probed Service unknown", func(d *Dump) {
			d.Services = d.Services[:2]
		}, probe("foo/sleep-0", "foo"), "no Service foo/httpbin", "Service foo/httpbin"},
		{"weighted waypoints", func(d *Dump) {
			d.Services[2].WeightedWaypoints = []json.RawMessage{json.RawMessage(`{}`)}
		}, probe("foo/sleep-0", "foo"), "weighted waypoints", ""},
		{"server outside the mesh", func(d *Dump) {
			d.Workloads[1].Protocol = ProtocolTCP
		}, probe("foo/sleep-0", "foo"), "not HBONE", ""},
		{"waypoint denied", func(d *Dump) {
			d.Policies = append(d.Policies, Policy{Name: "no-waypoint", Namespace: "foo", Scope: ScopeNamespace, Action: ActionDeny,
				Rules: [][][]Match{{{{Principals: []StringMatch{{Suffix: ptr("/sa/waypoint")}}}}}}})
		}, probe("foo/sleep-0", "foo"), "would refuse waypoint foo/waypoint-7c9d8f6b5-x2x4q (DENY policy foo/no-waypoint matches)", ""},
		{"waypoints of two identities", func(d *Dump) {
			other := d.Workloads[2]
			other.UID, other.ServiceAccount = "Kubernetes//Pod/foo/other", "other"
			d.Workloads = append(d.Workloads, other)
			d.Services[3].Endpoints["x"] = Endpoint{WorkloadUID: other.UID}
		}, probe("foo/sleep-0", "foo"), "different identities", ""},
		{"waypoint on another network", func(d *Dump) {
			d.Workloads[2].Network = "remote"
		}, probe("foo/sleep-0", "foo"), `on network "remote"`, ""},
		{"shared VIP", func(d *Dump) {
			d.Services = append(d.Services, Service{Name: "shadow", Namespace: "legacy", VIPs: []string{"/10.96.2.20"}})
		}, probe("foo/sleep-0", "bar"), "VIP /10.96.2.20 shared by 2 Services", ""},
	}
	for _, c := range cases {
		d := waypointDump(t)
		c.edit(d)
		j, err := d.Judge(c.p)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %+v, %v; want an error containing %q", c.name, j, err, c.err)
		}
		if u := d.Unknown(c.p); u != c.unknown {
			t.Errorf("%s: unknown %q, want %q", c.name, u, c.unknown)
		}
	}
}

func ptr[T any](v T) *T { return &v }
