package authcheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// The propagation barrier: a scenario step's objects exist in the apiserver long before istiod has
// pushed them to every sidecar, so a probe taken at once can pass a step that is not in force yet
// (a policy documented to have no effect passes trivially). Before probing, the barrier reads
// every sidecar's Envoy configuration until this engine derives from it what the oracle predicts
// for the step — the inbound mode of each workload port on each server, and what each client
// sends through each Service cluster — and, when the step changed Istio objects, until a
// sidecar holds a push newer than the one it held before the change.

// ProxyExpectation is what one workload's sidecars must say for a scenario step to be in force.
type ProxyExpectation struct {
	Workload fixtures.Workload
	// Inbound maps each workload port to the mode its inbound filter chains must amount to.
	Inbound map[int]Mode
	// Outbound maps each outbound cluster (outbound|PORT||HOST) to what the sidecar must send to
	// every endpoint behind it: Istio mTLS (true) or plaintext (false).
	Outbound map[string]bool
}

// ProxyDump is the configuration of one sidecar.
type ProxyDump struct {
	// Pod names the sidecar's pod as name.namespace.
	Pod  string
	Dump *Dump
}

// DumpSource reads the configuration of every running sidecar of a workload; a workload without
// one yields none.
type DumpSource interface {
	WorkloadDumps(ctx context.Context, wl fixtures.Workload) ([]ProxyDump, error)
}

// PushVersions are the CDS versions (Dump.ClustersVersion) the sidecars held at one moment, by
// pod: taken before a step changes Istio objects, they tell a push made after the change from one
// made before it.
type PushVersions map[string]string

// DefaultBarrierInterval is the time between two reads of the sidecars.
const DefaultBarrierInterval = time.Second

// NoProxies is the note of a step with no sidecar to wait on: nothing in the mesh can hold the
// step's configuration, so there is nothing to wait for.
const NoProxies = "no proxies"

// Barrier waits until a scenario step is in force on the sidecars.
type Barrier struct {
	Source DumpSource
	// Timeout bounds the wait; Interval (default DefaultBarrierInterval) spaces the reads.
	Timeout  time.Duration
	Interval time.Duration
}

// Propagation is what the barrier saw when the step was in force.
type Propagation struct {
	// Proxies are the sidecars checked (pod.namespace), sorted; none for a mesh without sidecars.
	Proxies []string
	// Elapsed is how long the step took to reach every sidecar; Polls how many reads that took.
	Elapsed time.Duration
	Polls   int
	// PushSeenOn is a sidecar whose CDS version moved past the snapshot taken before the change
	// ("" when no push was required, or none was seen).
	PushSeenOn string
	// Note says what the barrier could not confirm: NoProxies, or that no new push was seen.
	Note string
}

// PropagationError is a step not in force on every proxy (sidecar, or ztunnel: Proxy) when the
// barrier gave up.
type PropagationError struct {
	Timeout time.Duration
	// Proxy names what the step must be in force on: "" (sidecars), or "ztunnel" (the ambient
	// data plane's node proxies, whose configuration the world's ambient barrier reads).
	Proxy string
	// Problems are the last read's unmet expectations, one line each, naming the proxy.
	Problems []string
	// UnreadableProblems counts the problems that are proxies which could not be read at all.
	UnreadableProblems int
	// Cause is why the wait ended (the timeout, or the caller's context).
	Cause error
}

func (e *PropagationError) Error() string {
	var b strings.Builder
	proxy := e.Proxy
	if proxy == "" {
		proxy = "sidecar"
	}
	fmt.Fprintf(&b, "the step is not in force on every %s within %s", proxy, e.Timeout)
	if e.Cause != nil && !errors.Is(e.Cause, context.DeadlineExceeded) {
		fmt.Fprintf(&b, " (%v)", e.Cause)
	}
	b.WriteString(":")
	for _, p := range e.Problems {
		b.WriteString("\n  " + p)
	}
	return b.String()
}

func (e *PropagationError) Unwrap() error { return e.Cause }

// Unreadable says whether every problem was a sidecar that could not be read (an exec, pod or
// API failure): nothing was learnt about the mesh's configuration.
func (e *PropagationError) Unreadable() bool {
	return len(e.Problems) > 0 && e.UnreadableProblems == len(e.Problems)
}

func (b Barrier) interval() time.Duration {
	if b.Interval > 0 {
		return b.Interval
	}
	return DefaultBarrierInterval
}

// PushVersions reads the CDS version every running sidecar of the workloads holds. A sidecar
// that cannot be read is left out: the snapshot is only the reference a later push is told by.
func (b Barrier) PushVersions(ctx context.Context, workloads []fixtures.Workload) PushVersions {
	if b.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.Timeout)
		defer cancel()
	}
	out := PushVersions{}
	for _, r := range b.readAll(ctx, workloads) {
		for _, pd := range r.dumps {
			if v := pd.Dump.ClustersVersion; v != "" { // no CDS response yet: nothing to compare
				out[pd.Pod] = v
			}
		}
	}
	return out
}

type workloadRead struct {
	dumps []ProxyDump
	err   error
}

// readAll reads every workload's sidecars at once: one read of the mesh is as slow as its
// slowest sidecar, not the sum of them.
func (b Barrier) readAll(ctx context.Context, workloads []fixtures.Workload) []workloadRead {
	out := make([]workloadRead, len(workloads))
	var wg sync.WaitGroup
	for i, wl := range workloads {
		wg.Go(func() {
			out[i].dumps, out[i].err = b.Source.WorkloadDumps(ctx, wl)
		})
	}
	wg.Wait()
	return out
}

// poll is one read of every sidecar against the expectations.
type poll struct {
	proxies    []string
	problems   []string
	unreadable int
	pushSeenOn string
	// snapshotLeft counts the sidecars of the snapshot still running.
	snapshotLeft int
}

// Await reads the sidecars every Interval until each expectation holds on every sidecar of its
// workload and, when before is not nil, a sidecar of the snapshot holds a CDS version no sidecar
// held then (istiod pushed after the change; a sidecar started since is new anyway). It
// polls on a timer, never sleeps. When the expectations hold but no push is
// seen by the timeout, the step is in force (its configuration is the predicted one) and the
// returned note says the push was not seen; when an expectation does not hold, the error is a
// *PropagationError naming every sidecar, port and cluster that disagrees.
func (b Barrier) Await(ctx context.Context, want []ProxyExpectation, before PushVersions) (*Propagation, error) {
	start := time.Now()
	res := &Propagation{}
	if len(want) == 0 {
		res.Note = NoProxies
		return res, nil
	}
	workloads := make([]fixtures.Workload, len(want))
	for i, e := range want {
		workloads[i] = e.Workload
	}
	var last poll
	// apimachinery's poller, what e2e-framework's klient/wait.For wraps (and deploy uses): this
	// package is also linked by tools/istiogen, which need not carry e2e-framework.
	err := wait.PollUntilContextTimeout(ctx, b.interval(), b.Timeout, true, func(ctx context.Context) (bool, error) {
		res.Polls++
		last = check(want, b.readAll(ctx, workloads), before)
		pushed := before == nil || last.pushSeenOn != "" || last.snapshotLeft == 0
		return len(last.problems) == 0 && pushed, nil
	})
	res.Elapsed = time.Since(start)
	res.Proxies = last.proxies
	res.PushSeenOn = last.pushSeenOn
	if len(last.problems) > 0 {
		return res, &PropagationError{Timeout: b.Timeout, Problems: last.problems, UnreadableProblems: last.unreadable, Cause: err}
	}
	switch {
	case before == nil || last.pushSeenOn != "":
	case len(before) == 0:
		res.Note = "no sidecar's push version was known before the change"
	case last.snapshotLeft == 0:
		res.Note = "every sidecar started after the change"
	case err != nil:
		res.Note = fmt.Sprintf("no sidecar received a new push from istiod within %s; the configuration already was the predicted one", b.Timeout)
	}
	if err != nil && ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// check judges one read of the mesh.
func check(want []ProxyExpectation, reads []workloadRead, before PushVersions) poll {
	var p poll
	// A version some sidecar already held at the snapshot is an earlier push reaching another
	// sidecar late, not the change's: Istio names every push afresh (NextVersion).
	known := map[string]bool{}
	for _, v := range before {
		known[v] = true
	}
	for i, e := range want {
		r := reads[i]
		switch {
		case r.err != nil:
			p.problems = append(p.problems, fmt.Sprintf("%s: %v", e.Workload.Ref, r.err))
			p.unreadable++
			continue
		case len(r.dumps) == 0:
			p.problems = append(p.problems, fmt.Sprintf("%s: no running pod with a sidecar", e.Workload.Ref))
			p.unreadable++
			continue
		}
		for _, pd := range r.dumps {
			p.proxies = append(p.proxies, pd.Pod)
			p.problems = append(p.problems, proxyProblems(pd, e)...)
			if old, ok := before[pd.Pod]; ok {
				p.snapshotLeft++
				if v := pd.Dump.ClustersVersion; v != old && !known[v] && p.pushSeenOn == "" {
					p.pushSeenOn = pd.Pod
				}
			}
		}
	}
	slices.Sort(p.proxies)
	return p
}

// proxyProblems lists what one sidecar's configuration says differently from the expectation.
func proxyProblems(pd ProxyDump, e ProxyExpectation) []string {
	var out []string
	for _, port := range slices.Sorted(maps.Keys(e.Inbound)) {
		want := e.Inbound[port]
		in, err := pd.Dump.Inbound(port)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s inbound :%d: %v", pd.Pod, port, err))
		case in.Mode != want:
			out = append(out, fmt.Sprintf("%s inbound :%d is %s, want %s", pd.Pod, port, in.Mode, want))
		}
	}
	for _, cluster := range slices.Sorted(maps.Keys(e.Outbound)) {
		wantMTLS := e.Outbound[cluster]
		sends, err := pd.Dump.ClusterSends(cluster)
		if err != nil {
			out = append(out, fmt.Sprintf("%s %v", pd.Pod, err))
			continue
		}
		for _, addr := range slices.Sorted(maps.Keys(sends)) {
			if sends[addr] != wantMTLS {
				out = append(out, fmt.Sprintf("%s %s sends %s to %s, want %s", pd.Pod, cluster, sendsText(sends[addr]), addr, sendsText(wantMTLS)))
			}
		}
	}
	return out
}

func sendsText(mtls bool) string {
	if mtls {
		return "Istio mTLS"
	}
	return "plaintext"
}

// AllEndpoints stands for every endpoint in ClusterSends' answer when the cluster decides
// without looking at endpoints.
const AllEndpoints = "every endpoint"

// ClusterSends says what the sidecar sends through an outbound cluster to each endpoint Envoy
// may pick: Istio mTLS (true) or plaintext (false). A cluster without transport socket matches
// decides once for all endpoints (key AllEndpoints); one with matches (auto mTLS) decides per
// endpoint, from the endpoints the dump holds. Envoy load-balances over endpoints whose health
// status is UNKNOWN, HEALTHY or DEGRADED (envoy source/common/upstream/upstream_impl.cc
// HostImpl::healthFlagsSetFromStatus, used by the EDS cluster), so only those count.
func (d *Dump) ClusterSends(name string) (map[string]bool, error) {
	c := d.cluster(name)
	if c == nil {
		return nil, fmt.Errorf("has no cluster %s", name)
	}
	if len(c.GetTransportSocketMatches()) == 0 {
		up, err := upstreamFor(c, nil)
		if err != nil {
			return nil, err
		}
		if up.TLS && !up.Istio {
			return nil, fmt.Errorf("%s originates TLS that is not Istio mTLS", name)
		}
		return map[string]bool{AllEndpoints: up.Istio}, nil
	}
	cla := d.endpoints(name)
	if cla == nil {
		return nil, fmt.Errorf("%s chooses TLS per endpoint: %w", name, ErrNoEndpoints)
	}
	out := map[string]bool{}
	for _, ep := range lbEndpoints(cla) {
		switch ep.GetHealthStatus() {
		case corev3.HealthStatus_UNHEALTHY, corev3.HealthStatus_DRAINING, corev3.HealthStatus_TIMEOUT:
			continue
		}
		up, err := upstreamFor(c, ep)
		if err != nil {
			return nil, err
		}
		if up.TLS && !up.Istio {
			return nil, fmt.Errorf("%s originates TLS that is not Istio mTLS to %s", name, endpointAddr(ep))
		}
		out[endpointAddr(ep)] = up.Istio
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no endpoint Envoy would pick", name)
	}
	return out, nil
}
