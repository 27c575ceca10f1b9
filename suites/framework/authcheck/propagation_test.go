package authcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// recordedSequence serves each workload's recorded dumps in order, one per read, repeating the
// last: a sidecar whose configuration istiod replaces while the barrier polls.
type recordedSequence struct {
	mu    sync.Mutex
	dumps map[fixtures.Ref][]*Dump
	reads map[fixtures.Ref]int
	err   error
}

func sequence(dumps map[fixtures.Ref][]*Dump) *recordedSequence {
	return &recordedSequence{dumps: dumps, reads: map[fixtures.Ref]int{}}
}

func (s *recordedSequence) WorkloadDumps(_ context.Context, wl fixtures.Workload) ([]ProxyDump, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	seq := s.dumps[wl.Ref]
	if len(seq) == 0 {
		return nil, nil
	}
	d := seq[min(s.reads[wl.Ref], len(seq)-1)]
	s.reads[wl.Ref]++
	return []ProxyDump{{Pod: wl.Name + "-0." + wl.Namespace, Dump: d}}, nil
}

func (s *recordedSequence) read(ref fixtures.Ref) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads[ref]
}

var (
	httpbinFoo = fixtures.Workload{Ref: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, ContainerPorts: []int{8000, 8080}}
	sleepFoo   = fixtures.Workload{Ref: fixtures.Ref{Name: "sleep", Namespace: "foo"}}
)

func fastBarrier(src DumpSource, timeout time.Duration) Barrier {
	return Barrier{Source: src, Timeout: timeout, Interval: 10 * time.Millisecond}
}

// mustAwait is Await for a barrier the test expects to return: any error ends the test.
func mustAwait(t *testing.T, b Barrier, want []ProxyExpectation, before PushVersions) *Propagation {
	t.Helper()
	p, err := b.Await(t.Context(), want, before)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func withVersion(d *Dump, version string) *Dump {
	c := *d
	c.ClustersVersion = version
	return &c
}

// The server's inbound chains: the barrier must not return while the sidecar still has the
// baseline (PERMISSIVE) listener, and must return once namespace STRICT's listener appears.
func TestBarrierWaitsForTheNewInboundConfig(t *testing.T) {
	src := sequence(map[fixtures.Ref][]*Dump{httpbinFoo.Ref: {
		load(t, "baseline_httpbin.foo"), load(t, "baseline_httpbin.foo"), load(t, "namespace-strict_httpbin.foo"),
	}})
	want := []ProxyExpectation{{Workload: httpbinFoo, Inbound: map[int]Mode{8000: ModeStrict, 8080: ModeStrict}}}
	p := mustAwait(t, fastBarrier(src, 10*time.Second), want, nil)
	if got := src.read(httpbinFoo.Ref); got != 3 || p.Polls != 3 {
		t.Fatalf("returned after %d reads (%d polls), want exactly 3: not on the two old dumps, at once on the new one", got, p.Polls)
	}
	if strings.Join(p.Proxies, ",") != "httpbin-0.foo" {
		t.Errorf("proxies checked = %v, want [httpbin-0.foo]", p.Proxies)
	}
}

// The client's outbound clusters: DestinationRules make sleep.foo send plaintext to httpbin.bar
// and Istio mTLS to httpbin.legacy; under auto mTLS it sends mTLS to bar and plaintext to legacy.
func TestBarrierWaitsForTheNewOutboundConfig(t *testing.T) {
	src := sequence(map[fixtures.Ref][]*Dump{sleepFoo.Ref: {
		load(t, "baseline_sleep.foo"), load(t, "destination-rules_sleep.foo"),
	}})
	want := []ProxyExpectation{{Workload: sleepFoo, Outbound: map[string]bool{
		"outbound|8000||httpbin.bar.svc.cluster.local":    false,
		"outbound|8000||httpbin.legacy.svc.cluster.local": true,
		"outbound|8000||httpbin.foo.svc.cluster.local":    true,
	}}}
	p := mustAwait(t, fastBarrier(src, 10*time.Second), want, nil)
	if src.read(sleepFoo.Ref) != 2 || p.Polls != 2 {
		t.Fatalf("returned after %d reads (%d polls), want 2", src.read(sleepFoo.Ref), p.Polls)
	}
}

// A configuration that never arrives: the error names the proxy, the port and both modes.
func TestBarrierTimeoutNamesWhatNeverConverged(t *testing.T) {
	src := sequence(map[fixtures.Ref][]*Dump{
		httpbinFoo.Ref: {load(t, "baseline_httpbin.foo")},
		sleepFoo.Ref:   {load(t, "baseline_sleep.foo")},
	})
	want := []ProxyExpectation{
		{Workload: httpbinFoo, Inbound: map[int]Mode{8000: ModeStrict, 8080: ModePermissive}},
		{Workload: sleepFoo, Outbound: map[string]bool{"outbound|8000||httpbin.bar.svc.cluster.local": false}},
	}
	start := time.Now()
	_, err := fastBarrier(src, 300*time.Millisecond).Await(t.Context(), want, nil)
	var pe *PropagationError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *PropagationError", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("gave up after %s, want the 300ms timeout", took)
	}
	msg := err.Error()
	for _, s := range []string{
		"not in force on every sidecar within 300ms",
		"httpbin-0.foo inbound :8000 is PERMISSIVE, want STRICT",
		"sleep-0.foo outbound|8000||httpbin.bar.svc.cluster.local sends Istio mTLS to 10.244.2.11:8000, want plaintext",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q:\n%s", s, msg)
		}
	}
	if strings.Contains(msg, ":8080") {
		t.Errorf("port 8080 is PERMISSIVE as expected and must not be named:\n%s", msg)
	}
	if pe.Unreadable() {
		t.Error("sidecars that were read and disagreed are not an infrastructure failure")
	}
}

// Sidecars that cannot be read: an infrastructure failure, not a verdict on the configuration.
func TestBarrierUnreadableSidecars(t *testing.T) {
	src := sequence(nil)
	src.err = errors.New("exec istio-proxy: container not found")
	_, err := fastBarrier(src, 100*time.Millisecond).Await(t.Context(), []ProxyExpectation{{Workload: httpbinFoo, Inbound: map[int]Mode{8000: ModeStrict}}}, nil)
	var pe *PropagationError
	if !errors.As(err, &pe) || !pe.Unreadable() || !strings.Contains(err.Error(), "httpbin.foo: exec istio-proxy: container not found") {
		t.Fatalf("err = %v, want an unreadable-sidecar PropagationError naming httpbin.foo", err)
	}
	// A workload that should have a sidecar and has no running one is a problem too.
	_, err = fastBarrier(sequence(nil), 100*time.Millisecond).Await(t.Context(), []ProxyExpectation{{Workload: httpbinFoo, Inbound: map[int]Mode{8000: ModeStrict}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "httpbin.foo: no running pod with a sidecar") {
		t.Fatalf("err = %v, want no running pod named", err)
	}
}

// A change istiod must push: even when the old configuration already gives the expected modes
// (a policy documented to have no effect), the barrier waits until a sidecar holds a push newer
// than the one it held before the change.
func TestBarrierWaitsForANewPush(t *testing.T) {
	strict := load(t, "namespace-strict_httpbin.foo")
	before := PushVersions{"httpbin-0.foo": "2026-11-02T09:00:00Z/7"}
	src := sequence(map[fixtures.Ref][]*Dump{httpbinFoo.Ref: {
		withVersion(strict, "2026-11-02T09:00:00Z/7"), withVersion(strict, "2026-11-02T09:00:00Z/7"), withVersion(strict, "2026-11-02T09:00:03Z/8"),
	}})
	want := []ProxyExpectation{{Workload: httpbinFoo, Inbound: map[int]Mode{8000: ModeStrict, 8080: ModeStrict}}}
	p := mustAwait(t, fastBarrier(src, 10*time.Second), want, before)
	if p.Polls != 3 || p.PushSeenOn != "httpbin-0.foo" {
		t.Fatalf("polls %d, push seen on %q: want 3 and httpbin-0.foo", p.Polls, p.PushSeenOn)
	}

	// A push the snapshot already knew (the previous step's, reaching one more sidecar late) is
	// not the change's: only a version no sidecar held before counts.
	sleepBase := load(t, "baseline_sleep.foo")
	before = PushVersions{"httpbin-0.foo": "2026-11-02T09:00:00Z/7", "sleep-0.foo": "2026-11-02T09:00:00Z/6"}
	src = sequence(map[fixtures.Ref][]*Dump{
		httpbinFoo.Ref: {withVersion(strict, "2026-11-02T09:00:00Z/7")},
		sleepFoo.Ref:   {withVersion(sleepBase, "2026-11-02T09:00:00Z/7"), withVersion(sleepBase, "2026-11-02T09:00:00Z/7"), withVersion(sleepBase, "2026-11-02T09:00:04Z/8")},
	})
	p = mustAwait(t, fastBarrier(src, 10*time.Second), append(want, ProxyExpectation{Workload: sleepFoo}), before)
	if p.Polls != 3 || p.PushSeenOn != "sleep-0.foo" {
		t.Fatalf("polls %d, push seen on %q: want 3 and sleep-0.foo (the late /7 is no new push)", p.Polls, p.PushSeenOn)
	}

	// No push ever: the configuration is as expected, so the step is in force, but the record
	// says that no push was seen.
	src = sequence(map[fixtures.Ref][]*Dump{httpbinFoo.Ref: {withVersion(strict, "2026-11-02T09:00:00Z/7")}})
	p = mustAwait(t, fastBarrier(src, 100*time.Millisecond), want, before)
	if p.PushSeenOn != "" || !strings.Contains(p.Note, "no sidecar received a new push from istiod within 100ms") {
		t.Errorf("push seen on %q, note %q", p.PushSeenOn, p.Note)
	}
}

// Without sidecars there is nothing to wait on, and the record says so.
func TestBarrierWithoutProxies(t *testing.T) {
	p := mustAwait(t, fastBarrier(sequence(nil), time.Second), nil, PushVersions{})
	if len(p.Proxies) != 0 || p.Note != NoProxies {
		t.Errorf("proxies %v, note %q: want none and %q", p.Proxies, p.Note, NoProxies)
	}
}

func TestPushVersionsSnapshot(t *testing.T) {
	src := sequence(map[fixtures.Ref][]*Dump{
		httpbinFoo.Ref: {withVersion(load(t, "baseline_httpbin.foo"), "v1")},
		sleepFoo.Ref:   {load(t, "baseline_sleep.foo")}, // no CDS version: left out
	})
	got := fastBarrier(src, time.Second).PushVersions(t.Context(), []fixtures.Workload{httpbinFoo, sleepFoo})
	if fmt.Sprint(got) != "map[httpbin-0.foo:v1]" {
		t.Errorf("snapshot = %v", got)
	}
	// A snapshot without any version cannot tell a new push: the barrier does not wait for one.
	p, err := fastBarrier(src, 5*time.Second).Await(t.Context(), []ProxyExpectation{{Workload: sleepFoo}}, PushVersions{})
	if err != nil || p.Polls != 1 || p.Note != "no sidecar's push version was known before the change" {
		t.Errorf("polls %d, note %q, err %v", p.Polls, p.Note, err)
	}
}
