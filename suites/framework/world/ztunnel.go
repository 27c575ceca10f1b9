package world

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/ztunnel"
)

// ztunnelProxy is what the ambient barrier's records and errors name as their proxies.
const ztunnelProxy = "ztunnel"

// ztunnelSource is what the ambient barrier reads: the cluster's ztunnels and fixture pods, or
// a test's.
type ztunnelSource interface {
	// Pods is the one live pod of each fixture workload.
	Pods(ctx context.Context) (map[fixtures.Ref]corev1.Pod, error)
	// Dumps is the configuration of the ztunnel on each of nodes.
	Dumps(ctx context.Context, nodes []string) (*ztunnel.NodeDumps, error)
}

// awaitZtunnel is the propagation barrier of the ambient data plane, where no sidecar holds the
// step's configuration: it reads the configuration of the ztunnels on the fixture pods' nodes
// until, for every probe of the matrix, the ztunnel engine's judgement — the workloads'
// protocol (HBONE: mTLS between ztunnels) and the authorization istiod converted from the
// PeerAuthentications, evaluated as ztunnel does — is the outcome class the ambient oracle
// predicts for st. Each probe is judged on the ztunnel of the client pod's node, which decides
// whether to open HBONE from its view of the server, and on that of the server pod's node, which
// enforces the policies: both must agree with the step. Through a waypoint, ztunnel gives the
// route and the identity the server sees, not the header the waypoint writes: a waypoint
// outcome needs hbone through a waypoint of the identity its XFCC By names (ztunnelAgrees), and
// the header is read from the waypoint's own Envoy configuration (waypointProblems). This is
// also how
// an hbone probe's mTLS is established: its 200 carries no XFCC, so the probe alone cannot tell.
// The engine and the oracle agree on every catalog step on what Istio's own control plane
// generates (tools/istiogen/ambient). The wait is recorded like the sidecar barrier's.
func (w *World) awaitZtunnel(ctx context.Context, scenario, step string, stepIndex int, st scenarios.State) error {
	want, err := oracle.PredictAmbient(oracle.Input{Topology: w.Topology, Objects: st.Objects, Injected: st.Enrolled, Waypoints: st.Waypoints, TrustDomain: w.Settings.TrustDomain})
	if err != nil {
		return err
	}
	var src ztunnelSource = clusterZtunnels{w}
	if w.ztunnels != nil {
		src = w.ztunnels
	}
	var waypoints waypointSource = clusterWaypoints{w}
	if w.waypoints != nil {
		waypoints = w.waypoints
	}
	interval := w.barrierInterval
	if interval <= 0 {
		interval = authcheck.DefaultBarrierInterval
	}
	start := time.Now()
	var problems, proxies []string
	// unreadable: the last problems are reads that failed, which say nothing about the mesh.
	unreadable := false
	err = wait.PollUntilContextTimeout(ctx, interval, w.Settings.Timeout, true, func(ctx context.Context) (bool, error) {
		// A failed read says less than a judgement seen before (near the deadline client-go's
		// rate limiter refuses to wait: that is no news about the mesh).
		pods, err := src.Pods(ctx)
		var nodes *ztunnel.NodeDumps
		if err == nil {
			nodes, err = src.Dumps(ctx, podNodes(pods))
		}
		if err != nil {
			if problems == nil || unreadable {
				problems, unreadable = []string{err.Error()}, true
			}
			return false, nil
		}
		proxies = slices.Sorted(slices.Values(nodes.Pods))
		unreadable = false
		problems, err = ztunnelProblems(w.Topology, nodes, pods, want)
		if err == nil && len(problems) == 0 {
			// ztunnel routes through the step's waypoints; what they do with XFCC is theirs.
			problems = waypointProblems(ctx, waypoints, w.Topology, st, &proxies)
		}
		return err == nil && len(problems) == 0, err
	})
	rec := report.PropagationRecord{
		Scenario: scenario, Step: step, StepIndex: stepIndex, Proxies: append([]string{}, proxies...),
		InForce: err == nil, DurationMs: time.Since(start).Milliseconds(), Proxy: ztunnelProxy, Time: time.Now().UTC(),
	}
	if err != nil && problems != nil {
		pe := &authcheck.PropagationError{Timeout: w.Settings.Timeout, Proxy: ztunnelProxy, Problems: problems, Cause: err}
		if unreadable {
			pe.UnreadableProblems = len(problems)
		}
		err = pe
	}
	return w.recordPropagation(rec, err)
}

// ztunnelProblems judges every probe of want on the ztunnels of its client's and its server's
// nodes and names each judgement that differs from the step, one line each. An error is what
// waiting cannot change: a probe the topology cannot place, a dump the engine cannot judge (a
// protocol it does not model).
func ztunnelProblems(topo *fixtures.Topology, nodes *ztunnel.NodeDumps, pods map[fixtures.Ref]corev1.Pod, want []scenarios.ProbeOutcome) ([]string, error) {
	var problems []string
	podName := func(wl fixtures.Workload) (string, error) {
		p, ok := pods[wl.Ref]
		if !ok {
			return "", fmt.Errorf("no live pod of %s", wl.Ref)
		}
		return p.Name, nil
	}
	for _, e := range want {
		zp, client, server, err := ztunnel.MatrixProbe(topo, e.Probe, podName)
		if err != nil {
			return nil, err
		}
		for _, node := range []string{pods[client.Ref].Spec.NodeName, pods[server.Ref].Spec.NodeName} {
			dump, ok := nodes.ByNode[node]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: no ztunnel read on node %q", e.Probe, node))
				break
			}
			if unknown := dump.Unknown(zp); unknown != "" {
				problems = append(problems, fmt.Sprintf("%s: the ztunnel on %s does not know %s yet", e.Probe, node, unknown))
				break
			}
			j, err := dump.Judge(zp)
			if err != nil {
				return nil, fmt.Errorf("%s: the ztunnel on %s: %w", e.Probe, node, err)
			}
			if !ztunnelAgrees(j, e) {
				problems = append(problems, fmt.Sprintf("%s: ztunnel on %s gives %s, the step expects %s", e.Probe, node, describeJudgement(j), describeExpected(e)))
				break
			}
		}
	}
	return problems, nil
}

// ztunnelAgrees reports whether a ztunnel judgement is the step's expectation e. ztunnel decides
// the route and the authorization, not whether a waypoint writes XFCC (its Envoy's
// configuration): a waypoint outcome (ClassWaypoint, XFCC By the waypoint's identity) agrees
// with an hbone judgement through a waypoint of exactly that identity; anything else agrees
// when the classes are equal.
func ztunnelAgrees(j ztunnel.Judgement, e scenarios.ProbeOutcome) bool {
	if e.Class() == scenarios.ClassWaypoint {
		return j.Class == scenarios.ClassHBONE && j.Waypoint != "" && j.WaypointIdentity == e.XFCC.By
	}
	return j.Class == e.Class()
}

// describeJudgement is a judgement as a problem names it: its class, the waypoint it went
// through if any, and why.
func describeJudgement(j ztunnel.Judgement) string {
	if j.Waypoint != "" {
		return fmt.Sprintf("%s through waypoint %s as %s (%s)", j.Class, j.Waypoint, j.WaypointIdentity, j.Reason)
	}
	return fmt.Sprintf("%s (%s)", j.Class, j.Reason)
}

// describeExpected is an expectation as a problem names it: its class, and for a waypoint
// outcome the identity the waypoint must have.
func describeExpected(e scenarios.ProbeOutcome) string {
	if e.Class() == scenarios.ClassWaypoint {
		return fmt.Sprintf("%s (through a waypoint as %s)", e.Class(), e.XFCC.By)
	}
	return string(e.Class())
}

// podNodes are the nodes pods run on, each once, sorted.
func podNodes(pods map[fixtures.Ref]corev1.Pod) []string {
	var nodes []string
	for _, p := range pods {
		if !slices.Contains(nodes, p.Spec.NodeName) {
			nodes = append(nodes, p.Spec.NodeName)
		}
	}
	slices.Sort(nodes)
	return nodes
}

// clusterZtunnels reads the ztunnels and fixture pods of the cluster the world runs on.
type clusterZtunnels struct{ w *World }

func (c clusterZtunnels) Dumps(ctx context.Context, nodes []string) (*ztunnel.NodeDumps, error) {
	f, err := ztunnel.NewFetcher(c.w.Config)
	if err != nil {
		return nil, err
	}
	ds := c.w.ztunnelDaemonSet
	return f.Dumps(ctx, ds.Namespace, ds.Name, nodes)
}

// Pods finds each fixture workload's live pod; more than one (a rollout in progress) is a
// problem to wait out, since ztunnel may know either.
func (c clusterZtunnels) Pods(ctx context.Context) (map[fixtures.Ref]corev1.Pod, error) {
	kube, err := kubernetes.NewForConfig(c.w.Config)
	if err != nil {
		return nil, err
	}
	out := map[fixtures.Ref]corev1.Pod{}
	byNamespace := map[string][]corev1.Pod{}
	for _, wl := range c.w.workloads() {
		pods, ok := byNamespace[wl.Namespace]
		if !ok {
			list, err := kube.CoreV1().Pods(wl.Namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, fmt.Errorf("listing pods in %s: %w", wl.Namespace, err)
			}
			pods = list.Items
			byNamespace[wl.Namespace] = pods
		}
		var running []corev1.Pod
		for _, p := range pods {
			if mesh.PodLive(&p) && matchesLabels(wl.PodLabels, p.Labels) {
				running = append(running, p)
			}
		}
		if len(running) != 1 {
			return nil, fmt.Errorf("%s has %d live pods, want 1", wl.Ref, len(running))
		}
		out[wl.Ref] = running[0]
	}
	return out, nil
}
