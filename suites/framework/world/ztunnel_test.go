package world

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/ztunnel"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/waypointdump"
)

// staticStrict is the policy istiod sends every ztunnel once any PeerAuthentication exists,
// which the workloads a STRICT policy covers reference (pilot/pkg/serviceregistry/ambient
// policies.go DefaultPolicy, authorization.go convertedSelectorPeerAuthentications): deny a
// connection without a peer identity. tools/istiogen/ambient reads the same from Istio's code.
var staticStrict = ztunnel.Policy{
	Name: "istio_converted_static_strict", Namespace: "istio-system", Scope: ztunnel.ScopeWorkloadSelector,
	Action: ztunnel.ActionDeny, Rules: [][][]ztunnel.Match{{{{NotPrincipals: []ztunnel.StringMatch{{Presence: &presence}}}}}},
}

var presence = json.RawMessage("[]")

// standInDump is a ztunnel's config dump for pods and topo's Services: a captured pod is HBONE,
// any other TCP; a pod strict says a STRICT policy covers references staticStrict. It models
// STRICT policies only, enough for the scenarios these tests run.
func standInDump(topo *fixtures.Topology, pods []corev1.Pod, captured, strict func(corev1.Pod) bool) *ztunnel.Dump {
	d := &ztunnel.Dump{Policies: []ztunnel.Policy{staticStrict}}
	for _, s := range topo.Services {
		d.Services = append(d.Services, ztunnel.Service{Name: s.Name, Namespace: s.Namespace, Hostname: s.Name + "." + s.Namespace + ".svc.cluster.local"})
	}
	for _, p := range pods {
		wl := ztunnel.Workload{UID: "Kubernetes//Pod/" + p.Namespace + "/" + p.Name, Name: p.Name, Namespace: p.Namespace,
			ServiceAccount: p.Spec.ServiceAccountName, Protocol: ztunnel.ProtocolTCP}
		if captured(p) {
			wl.Protocol = ztunnel.ProtocolHBONE
		}
		if strict(p) {
			wl.AuthorizationPolicies = []string{staticStrict.Key()}
		}
		d.Workloads = append(d.Workloads, wl)
	}
	return d
}

// withWaypoint is d with a waypoint in ns as istiod sends it once the namespace is labelled
// istio.io/use-waypoint (tools/istiogen/ambient reads the same from Istio's code): the waypoint's
// pod (service account sa, not captured) behind Service "waypoint", and every Service of ns
// (the waypoint's own too) naming it by hostname.
func withWaypoint(d *ztunnel.Dump, ns, sa string) *ztunnel.Dump {
	out := &ztunnel.Dump{Workloads: slices.Clone(d.Workloads), Services: slices.Clone(d.Services), Policies: d.Policies}
	uid := "Kubernetes//Pod/" + ns + "/waypoint-0"
	out.Workloads = append(out.Workloads, ztunnel.Workload{UID: uid, Name: "waypoint-0", Namespace: ns, ServiceAccount: sa,
		Protocol: ztunnel.ProtocolTCP, WorkloadIPs: []string{"10.250.0.10"}})
	out.Services = append(out.Services, ztunnel.Service{Name: "waypoint", Namespace: ns, Hostname: "waypoint." + ns + ".svc.cluster.local",
		Ports: map[uint16]uint16{15008: 15008}, Endpoints: map[string]ztunnel.Endpoint{uid: {WorkloadUID: uid}}})
	for i := range out.Services {
		if out.Services[i].Namespace == ns {
			out.Services[i].Waypoint = &ztunnel.GatewayAddress{Destination: ns + "/waypoint." + ns + ".svc.cluster.local", HBONEMTLSPort: 15008}
		}
	}
	return out
}

// ambientBarrierWorld is an ambient run's world writing its reports in a temporary folder, whose
// ztunnel barrier gives up after timeout and reads every 50ms.
func ambientBarrierWorld(t *testing.T, timeout time.Duration) *World {
	t.Helper()
	s := ambientSettings()
	s.ReportsDir = t.TempDir()
	s.Timeout = timeout
	w := newWorld(t, s)
	w.barrierInterval = 50 * time.Millisecond
	return w
}

// fixturePods are one running pod per fixture workload of topo, on node-a.
func fixturePods(topo *fixtures.Topology) map[fixtures.Ref]corev1.Pod {
	out := map[fixtures.Ref]corev1.Pod{}
	for _, wl := range append(append([]fixtures.Workload{}, topo.Clients...), topo.Servers...) {
		out[wl.Ref] = corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: wl.Ref.Name + "-0", Namespace: wl.Namespace},
			Spec:       corev1.PodSpec{NodeName: "node-a", ServiceAccountName: wl.ServiceAccount},
		}
	}
	return out
}

// fakeZtunnels serves dumps[min(read, len-1)] on every node asked for (or, where byNode has
// one, that node's own): a push arriving after some reads.
type fakeZtunnels struct {
	pods   map[fixtures.Ref]corev1.Pod
	dumps  []*ztunnel.Dump
	byNode map[string]*ztunnel.Dump
	reads  atomic.Int32
	asked  []string
}

func (f *fakeZtunnels) Dumps(_ context.Context, nodes []string) (*ztunnel.NodeDumps, error) {
	f.asked = nodes
	i := min(int(f.reads.Add(1))-1, len(f.dumps)-1)
	out := &ztunnel.NodeDumps{ByNode: map[string]*ztunnel.Dump{}}
	for _, n := range nodes {
		d := f.dumps[i]
		if own, ok := f.byNode[n]; ok {
			d = own
		}
		out.ByNode[n] = d
		out.Pods = append(out.Pods, "ztunnel-"+strings.TrimPrefix(n, "node-")+".istio-system")
	}
	return out, nil
}

func (f *fakeZtunnels) Pods(context.Context) (map[fixtures.Ref]corev1.Pod, error) { return f.pods, nil }

func podList(m map[fixtures.Ref]corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range m {
		out = append(out, p)
	}
	return out
}

// TestAwaitZtunnel: in ambient a step is in force once every probe's judgement on the ztunnel
// of its server's node is what the step expects — here namespace-strict (foo STRICT): a dump
// without the policy is waited on and, if it never changes, the step is not in force, naming
// each probe ztunnel would judge otherwise; once istiod's push arrives it is in force and
// recorded with the ztunnels read.
func TestAwaitZtunnel(t *testing.T) {
	w := ambientBarrierWorld(t, 2*time.Second)
	sc := catalogtest.Scenario(t, "namespace-strict")
	st := sc.StateAt(w.Topology, 0)
	pods := fixturePods(w.Topology)
	enrolled := func(p corev1.Pod) bool { return st.Enrolled[p.Namespace] }
	before := standInDump(w.Topology, podList(pods), enrolled, func(corev1.Pod) bool { return false })
	after := standInDump(w.Topology, podList(pods), enrolled, func(p corev1.Pod) bool { return p.Namespace == "foo" })
	ctx := context.Background()

	// The push never arrives: not in force, and why.
	w.ztunnels = &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{before}}
	err := w.awaitZtunnel(ctx, sc.Name, sc.Steps[0].Name, 0, st)
	var pe *authcheck.PropagationError
	if !errors.As(err, &pe) || pe.Proxy != "ztunnel" {
		t.Fatalf("without the push: %v, want a ztunnel PropagationError", err)
	}
	want := "sleep.legacy → httpbin.foo:8000: ztunnel on node-a gives plaintext (client not in the mesh, plaintext without identity; no DENY policy matches and there is no ALLOW policy), the step expects reset"
	if !strings.HasPrefix(err.Error(), "the step is not in force on every ztunnel within 2s:") || !strings.Contains(err.Error(), "\n  "+want+"\n") {
		t.Errorf("error:\n%v\nwant a line %q", err, want)
	}
	// Every probe into foo from outside the mesh, and nothing else: 2 clients × 3 ports.
	if len(pe.Problems) != 6 {
		t.Errorf("%d problems, want 6: %q", len(pe.Problems), pe.Problems)
	}

	// The push arrives on the third read.
	src := &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{before, before, after}}
	w.ztunnels = src
	if err := w.awaitZtunnel(ctx, sc.Name, sc.Steps[0].Name, 0, st); err != nil {
		t.Fatalf("with the push: %v", err)
	}
	if got := src.reads.Load(); got != 3 {
		t.Errorf("%d reads, want 3", got)
	}
	res, err := w.run.Results()
	if err != nil {
		t.Fatal(err)
	}
	// One record per step: the later wait's replaces the earlier one's.
	recs := res.Propagation
	if len(recs) != 1 || !recs[0].InForce || recs[0].Proxy != "ztunnel" || strings.Join(recs[0].Proxies, ",") != "ztunnel-a.istio-system" || strings.Join(src.asked, ",") != "node-a" || recs[0].Message != "" {
		t.Errorf("propagation records: %+v", recs)
	}

	// A pod ztunnel does not know yet is waited for, and named.
	var known []corev1.Pod
	for _, p := range podList(pods) {
		if p.Name != "curl-0" {
			known = append(known, p)
		}
	}
	w.ztunnels = &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{standInDump(w.Topology, known, enrolled, func(p corev1.Pod) bool { return p.Namespace == "foo" })}}
	err = w.awaitZtunnel(ctx, sc.Name, sc.Steps[0].Name, 0, st)
	if err == nil || !strings.Contains(err.Error(), "curl.utilities → httpbin.foo:8000: the ztunnel on node-a does not know pod utilities/curl-0 yet") {
		t.Errorf("an unknown pod: %v", err)
	}

	// No ztunnel can be read: not in force, and nothing learnt about the mesh (an
	// infrastructure error, not a failed probe).
	w.ztunnels = unreadableZtunnels{pods}
	err = w.awaitZtunnel(ctx, sc.Name, sc.Steps[0].Name, 0, st)
	if !errors.As(err, &pe) || !pe.Unreadable() || !strings.Contains(err.Error(), "\n  port-forward refused") {
		t.Errorf("unreadable ztunnels: %v", err)
	}

	// foo behind a waypoint that writes XFCC: a mesh client's probe of foo is in force once
	// ztunnel sends it through a waypoint of the identity XFCC By names (ztunnel cannot see the
	// header: that is the waypoint's Envoy's); hbone straight to the pod, or through a waypoint
	// of another identity, is waited on and named.
	wst := BaselineState(w.Topology)
	wst.Waypoints = map[string]scenarios.Waypoint{"foo": {Namespace: "foo", XFCCClientIdentity: true}}
	w.waypoints = fakeWaypoints{"foo": waypointdump.ForNamespace(t, w.Topology, "foo", true)}
	plain := standInDump(w.Topology, podList(pods), enrolled, func(corev1.Pod) bool { return false })
	w.ztunnels = &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{withWaypoint(plain, "foo", "other")}}
	err = w.awaitZtunnel(ctx, "waypoint", "xfcc", 0, wst)
	want = "sleep.foo → httpbin.foo:8000: ztunnel on node-a gives hbone through waypoint foo/waypoint-0 as spiffe://cluster.local/ns/foo/sa/other"
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "\n  "+want) || !strings.Contains(err.Error(), "the step expects waypoint (through a waypoint as spiffe://cluster.local/ns/foo/sa/waypoint)") {
		t.Errorf("a waypoint of another identity: %v\nwant a line starting %q", err, want)
	}
	// Every mesh client's probe of foo: 2 clients × 3 ports.
	if len(pe.Problems) != 6 {
		t.Errorf("%d problems, want 6: %q", len(pe.Problems), pe.Problems)
	}
	src = &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{plain, withWaypoint(plain, "foo", "waypoint")}}
	w.ztunnels = src
	if err := w.awaitZtunnel(ctx, "waypoint", "xfcc", 0, wst); err != nil || src.reads.Load() != 2 {
		t.Errorf("the waypoint on the second read: %v after %d reads", err, src.reads.Load())
	}
	// ztunnel routes through the waypoint, but the waypoint's Envoy does not write XFCC yet
	// (istiod has not pushed the annotated Gateway's listeners): waited on, and named.
	w.waypoints = fakeWaypoints{"foo": waypointdump.ForNamespace(t, w.Topology, "foo", false)}
	err = w.awaitZtunnel(ctx, "waypoint", "xfcc", 0, wst)
	want = "waypoint pod foo/waypoint-0 gives httpbin.foo XFCC with the client identity: false, the step expects true (Gateway annotation ambient.istio.io/xfcc-include-client-identity)"
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "\n  "+want) {
		t.Errorf("a waypoint not writing XFCC yet: %v\nwant a line %q", err, want)
	}
	// No waypoint pod to read: waited on, and named.
	w.waypoints = fakeWaypoints{}
	err = w.awaitZtunnel(ctx, "waypoint", "xfcc", 0, wst)
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "\n  waypoint foo/waypoint: 0 live pods, want 1") {
		t.Errorf("no waypoint pod: %v", err)
	}
	// Without XFCC the step expects hbone, which the waypoint's route gives too, and the
	// waypoint must strip XFCC.
	wst.Waypoints["foo"] = scenarios.Waypoint{Namespace: "foo"}
	w.ztunnels = &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{withWaypoint(plain, "foo", "waypoint")}}
	w.waypoints = fakeWaypoints{"foo": waypointdump.ForNamespace(t, w.Topology, "foo", true)}
	if err := w.awaitZtunnel(ctx, "waypoint", "no xfcc", 0, wst); !errors.As(err, &pe) || !strings.Contains(err.Error(), "XFCC with the client identity: true, the step expects false") {
		t.Errorf("a waypoint still writing XFCC: %v", err)
	}
	w.waypoints = fakeWaypoints{"foo": waypointdump.ForNamespace(t, w.Topology, "foo", false)}
	if err := w.awaitZtunnel(ctx, "waypoint", "no xfcc", 0, wst); err != nil {
		t.Errorf("a waypoint without XFCC: %v", err)
	}
	// The waypoint's pod not received yet: waited on, and named.
	lost := withWaypoint(plain, "foo", "waypoint")
	lost.Workloads = lost.Workloads[:len(lost.Workloads)-1]
	w.ztunnels = &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{lost}}
	err = w.awaitZtunnel(ctx, "waypoint", "no xfcc", 0, wst)
	if err == nil || !strings.Contains(err.Error(), "sleep.foo → httpbin.foo:8000: the ztunnel on node-a does not know waypoint foo/waypoint.foo.svc.cluster.local of Service foo/httpbin yet") {
		t.Errorf("an unknown waypoint: %v", err)
	}

	// A protocol the engine does not model is an error at once, not a wait.
	odd := standInDump(w.Topology, podList(pods), enrolled, func(corev1.Pod) bool { return false })
	for i := range odd.Workloads {
		odd.Workloads[i].Protocol = "DOUBLE_HBONE"
	}
	w.ztunnels = &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{odd}}
	start := time.Now()
	err = w.awaitZtunnel(ctx, sc.Name, sc.Steps[0].Name, 0, st)
	if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), `protocol "DOUBLE_HBONE" is neither HBONE nor TCP`) || time.Since(start) > time.Second {
		t.Errorf("an unmodelled protocol: %v after %s", err, time.Since(start))
	}
}

// TestAwaitInForceInAmbientReadsZtunnel: in ambient the step barrier is the ztunnel one (no
// sidecar to read), and the baseline it awaits is the ambient oracle's.
func TestAwaitInForceInAmbientReadsZtunnel(t *testing.T) {
	w := ambientBarrierWorld(t, 2*time.Second)
	pods := fixturePods(w.Topology)
	st := BaselineState(w.Topology)
	w.ztunnels = &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{standInDump(w.Topology, podList(pods), func(p corev1.Pod) bool { return st.Enrolled[p.Namespace] }, func(corev1.Pod) bool { return false })}}
	if err := w.awaitInForce(context.Background(), "baseline", "reset", 0, st, nil); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	// The same dump is not the namespace-strict step.
	sc := catalogtest.Scenario(t, "namespace-strict")
	if err := w.awaitInForce(context.Background(), sc.Name, sc.Steps[0].Name, 0, sc.StateAt(w.Topology, 0), nil); err == nil {
		t.Fatal("namespace-strict in force on a dump without its policy")
	}
}

// unreadableZtunnels is a cluster whose ztunnels cannot be read.
type unreadableZtunnels struct{ pods map[fixtures.Ref]corev1.Pod }

func (unreadableZtunnels) Dumps(context.Context, []string) (*ztunnel.NodeDumps, error) {
	return nil, errors.New("port-forward refused")
}

func (u unreadableZtunnels) Pods(context.Context) (map[fixtures.Ref]corev1.Pod, error) {
	return u.pods, nil
}

// TestAwaitZtunnelOnTwoNodes: a probe is judged on the ztunnel of its client's node (which opens
// HBONE, or not, from its view of the server) and on its server's (which enforces): a client
// node whose ztunnel still sees the server outside the mesh is waited on, and named, though the
// server's node is already right.
func TestAwaitZtunnelOnTwoNodes(t *testing.T) {
	w := ambientBarrierWorld(t, time.Second)
	st := BaselineState(w.Topology)
	pods := fixturePods(w.Topology)
	// The clients run on node-b, the servers on node-a.
	for _, c := range w.Topology.Clients {
		p := pods[c.Ref]
		p.Spec.NodeName = "node-b"
		pods[c.Ref] = p
	}
	enrolled := func(p corev1.Pod) bool { return st.Enrolled[p.Namespace] }
	current := standInDump(w.Topology, podList(pods), enrolled, func(corev1.Pod) bool { return false })
	// node-b's ztunnel has not seen httpbin.foo enrolled yet: it would send plaintext.
	stale := standInDump(w.Topology, podList(pods), func(p corev1.Pod) bool { return enrolled(p) && !(p.Namespace == "foo" && p.Name == "httpbin-0") }, func(corev1.Pod) bool { return false })
	src := &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{current}, byNode: map[string]*ztunnel.Dump{"node-b": stale}}
	w.ztunnels = src
	err := w.awaitZtunnel(context.Background(), "baseline", "reset", 0, st)
	want := "sleep.foo → httpbin.foo:8000: ztunnel on node-b gives plaintext (server workload is not in the mesh (protocol TCP)), the step expects hbone"
	if err == nil || !strings.Contains(err.Error(), "\n  "+want) {
		t.Fatalf("a stale client node: %v\nwant a line %q", err, want)
	}
	if strings.Join(src.asked, ",") != "node-a,node-b" {
		t.Errorf("nodes read: %v, want node-a,node-b", src.asked)
	}
	src.byNode = nil
	if err := w.awaitZtunnel(context.Background(), "baseline", "reset", 0, st); err != nil {
		t.Fatalf("both nodes current: %v", err)
	}
}

// TestAwaitZtunnelTopologyError: a probe the topology cannot place fails at once, not after the
// barrier's timeout.
func TestAwaitZtunnelTopologyError(t *testing.T) {
	w := ambientBarrierWorld(t, 5*time.Second)
	pods := fixturePods(w.Topology)
	st := BaselineState(w.Topology)
	delete(pods, fixtures.Ref{Name: "curl", Namespace: "utilities"})
	w.ztunnels = &fakeZtunnels{pods: pods, dumps: []*ztunnel.Dump{standInDump(w.Topology, podList(pods), func(corev1.Pod) bool { return false }, func(corev1.Pod) bool { return false })}}
	start := time.Now()
	err := w.awaitZtunnel(context.Background(), "baseline", "reset", 0, st)
	if err == nil || !strings.Contains(err.Error(), "no live pod of curl.utilities") || time.Since(start) > 2*time.Second {
		t.Errorf("a workload without a pod: %v after %s", err, time.Since(start))
	}
}

// fakeWaypoints are the listeners of each namespace's waypoint pod, "waypoint-0".
type fakeWaypoints map[string][]*listenerv3.Listener

func (f fakeWaypoints) Listeners(_ context.Context, namespace string) (string, []*listenerv3.Listener, error) {
	l, ok := f[namespace]
	if !ok {
		return "", nil, errors.New("0 live pods, want 1")
	}
	return "waypoint-0", l, nil
}
