package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// Real curl against real servers on 127.0.0.1: the background prober must count exactly the
// requests a server answered wrongly.

var (
	sleepBar    = fixtures.Workload{Ref: fixtures.Ref{Name: "sleep", Namespace: "bar"}, Role: fixtures.RoleClient, PodLabels: map[string]string{"app": "sleep"}, Container: "sleep"}
	sleepLegacy = fixtures.Workload{Ref: fixtures.Ref{Name: "sleep", Namespace: "legacy"}, Role: fixtures.RoleClient, PodLabels: map[string]string{"app": "sleep"}, Container: "sleep"}
	// envoy503Body is what an Istio client sidecar answers when its upstream connection fails.
	envoy503Body = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
)

func requireCurl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is required for the prober tests: %v", err)
	}
}

func outcome(t *testing.T, c scenarios.Class) scenarios.Outcome {
	t.Helper()
	o, err := c.Outcome("spiffe://cluster.local/ns/foo/sa/httpbin", "spiffe://cluster.local/ns/bar/sa/sleep")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// localTarget points the cluster-shaped URL http://httpbin.foo:<port>/headers at a local server.
func localTarget(t *testing.T, client fixtures.Workload, srv *httptest.Server) probe.Target {
	t.Helper()
	host, portStr, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatal(err)
	}
	return probe.Target{Client: client, Host: "httpbin.foo", Port: port, Resolve: host}
}

// reset answers a request by resetting its connection (SO_LINGER 0 sends RST), which curl reports
// as exit 56: what Envoy does to plaintext on a STRICT port.
func reset(t *testing.T, w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		t.Error("response writer cannot hijack")
		return
	}
	c, _, err := hj.Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func answer503(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprint(w, envoy503Body)
}

// outageServer behaves normally except during [from, until), when it answers wrongly; it counts
// the requests it answered wrongly and closes after once it has answered `after` requests
// normally after the outage.
type outageServer struct {
	*httptest.Server
	from, until    time.Time
	total, wrong   atomic.Int64
	afterwards     atomic.Int64
	after          int64
	recovered      chan struct{}
	recoveredClose sync.Once
}

func startOutage(t *testing.T, from, until time.Time, after int64, normal, wrong func(http.ResponseWriter, *http.Request)) *outageServer {
	t.Helper()
	s := &outageServer{from: from, until: until, after: after, recovered: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.total.Add(1)
		now := time.Now()
		if !now.Before(s.from) && now.Before(s.until) {
			s.wrong.Add(1)
			wrong(w, r)
			return
		}
		normal(w, r)
		if !now.Before(s.until) && s.afterwards.Add(1) == s.after {
			s.recoveredClose.Do(func() { close(s.recovered) })
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// TestProberCountsAKnownOutage runs the prober at a 250 ms cadence on two pairs: a plaintext
// pair whose server answers 503 (as a client sidecar does when its upstream is gone) for eight
// cadence steps, and a reset pair (legacy → STRICT) whose server lets plaintext through (HTTP 200)
// for three. Each count must equal what the server answered wrongly, and match the outage's length
// in cadence steps.
func TestProberCountsAKnownOutage(t *testing.T) {
	requireCurl(t)
	const interval = 250 * time.Millisecond
	bin := httpbin.New().Handler()
	t0 := time.Now()
	at := func(steps int) time.Time { return t0.Add(time.Duration(steps) * interval) }
	// Request k starts at least k intervals after t0, so with request latency under one interval
	// the outage [t0+5i, t0+13i) catches exactly requests 5..12 and [t0+6i, t0+9i) requests 6..8.
	plain := startOutage(t, at(5), at(13), 3, bin.ServeHTTP, func(w http.ResponseWriter, _ *http.Request) { answer503(w) })
	strict := startOutage(t, at(6), at(9), 3, func(w http.ResponseWriter, _ *http.Request) { reset(t, w) }, bin.ServeHTTP)

	pairs := []Pair{
		{Name: "sidecar → sidecar", Target: localTarget(t, sleepBar, plain.Server), Expected: outcome(t, scenarios.ClassPlaintext)},
		{Name: "legacy → STRICT", Target: localTarget(t, sleepLegacy, strict.Server), Expected: outcome(t, scenarios.ClassReset)},
	}
	p, err := StartProber(context.Background(), probe.LocalExecutor{}, pairs, ProberOptions{
		Interval: interval, Phase: "upgrade",
		Probe: probe.Options{ConnectTimeout: time.Second, MaxTime: 2 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Both servers answer normally three times after their outage, then the prober stops.
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for _, s := range []*outageServer{plain, strict} {
		select {
		case <-s.recovered:
		case <-deadline.C:
			p.Stop()
			t.Fatalf("no recovery seen within 30s: %d requests, %d answered wrongly", s.total.Load(), s.wrong.Load())
		}
	}
	d := p.Stop()

	for i, tc := range []struct {
		srv      *outageServer
		steps    int // outage length in cadence steps
		observed scenarios.Class
	}{
		{plain, 8, scenarios.ClassUpstreamError},
		{strict, 3, scenarios.ClassPlaintext},
	} {
		got := d.Pairs[i]
		wrong := int(tc.srv.wrong.Load())
		if got.Unexpected != wrong {
			t.Errorf("%s: counted %d unexpected, the server answered %d requests wrongly", got.Name, got.Unexpected, wrong)
		}
		if wrong < tc.steps-1 || wrong > tc.steps+1 {
			t.Errorf("%s: %d requests fell in an outage of %d cadence steps (%s each)", got.Name, wrong, tc.steps, interval)
		}
		// The request under way when Stop was called may have reached the server uncounted.
		if total := int(tc.srv.total.Load()); got.Requests != total && got.Requests != total-1 {
			t.Errorf("%s: %d requests counted, the server saw %d", got.Name, got.Requests, total)
		}
		if got.InfraErrors != 0 {
			t.Errorf("%s: %d infrastructure errors: %+v", got.Name, got.InfraErrors, got.InfraSamples)
		}
		if len(got.Windows) != 1 {
			t.Fatalf("%s: windows %+v, want one outage", got.Name, got.Windows)
		}
		w := got.Windows[0]
		start, end := tc.srv.from.Sub(d.Started), tc.srv.until.Sub(d.Started)
		if w.Requests != wrong || w.Phase != "upgrade" ||
			time.Duration(w.StartMs)*time.Millisecond < start-interval || time.Duration(w.StartMs)*time.Millisecond > start+interval ||
			time.Duration(w.EndMs)*time.Millisecond < end-interval || time.Duration(w.EndMs)*time.Millisecond > end+interval {
			t.Errorf("%s: window %+v, want %d requests from about +%s to +%s", got.Name, w, wrong, start, end)
		}
		if len(got.Samples) != min(wrong, DefaultSamples) {
			t.Fatalf("%s: %d samples for %d unexpected", got.Name, len(got.Samples), wrong)
		}
		s := got.Samples[0]
		obs := scenarios.Outcome{ExitCode: s.ExitCode, HTTPCode: s.HTTPCode, MTLS: s.MTLS}
		if obs.Class() != tc.observed || s.Mismatch == "" {
			t.Errorf("%s: first sample %+v, want class %s with a mismatch", got.Name, s, tc.observed)
		}
		if len(got.ByPhase) != 1 || got.ByPhase[0] != (PhaseCount{Phase: "upgrade", Requests: got.Requests, Unexpected: wrong}) {
			t.Errorf("%s: by phase %+v", got.Name, got.ByPhase)
		}
	}
	if d.Unexpected() != d.Pairs[0].Unexpected+d.Pairs[1].Unexpected || d.Stopped.Before(d.Started) {
		t.Errorf("totals: %d unexpected, started %s stopped %s", d.Unexpected(), d.Started, d.Stopped)
	}
	t.Logf("%d requests:\n%s", d.Requests(), d.Summary())
}

// gatedExecutor runs real curl, but only when the test releases each request; before a request
// runs, the test learns it has started (its phase is then fixed) and may say how it should fail.
type gatedExecutor struct {
	entered chan struct{}
	release chan error // nil: run curl; non-nil: the exec fails with it
}

func (g *gatedExecutor) Exec(ctx context.Context, w fixtures.Workload, argv []string) (probe.ExecResult, error) {
	select {
	case g.entered <- struct{}{}:
	case <-ctx.Done():
		return probe.ExecResult{}, ctx.Err()
	}
	select {
	case err := <-g.release:
		if err != nil {
			return probe.ExecResult{}, err
		}
		return probe.LocalExecutor{}.Exec(ctx, w, argv)
	case <-ctx.Done():
		return probe.ExecResult{}, ctx.Err()
	}
}

// TestProberPhasesAndWindows drives one pair request by request: which phase each request counts
// under, where windows of unexpected outcomes start and end, and that exec failures are counted
// apart and never as unexpected outcomes.
func TestProberPhasesAndWindows(t *testing.T) {
	requireCurl(t)
	bin := httpbin.New().Handler()
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			answer503(w)
			return
		}
		bin.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	g := &gatedExecutor{entered: make(chan struct{}), release: make(chan error)}
	p, err := StartProber(context.Background(), g, []Pair{{Name: "pair", Target: localTarget(t, sleepBar, srv), Expected: outcome(t, scenarios.ClassPlaintext)}},
		ProberOptions{Interval: time.Millisecond, Phase: "steady", Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	errExec := errors.New("pods \"sleep-0\" not found")
	steps := []struct {
		fail      bool
		execErr   error
		markAfter string // Mark once this request has started: the next one counts under it
	}{
		{},                                       // 1 steady: 200
		{fail: true, markAfter: "upgrade"},       // 2 steady: 503, window 1 opens
		{fail: true},                             // 3 upgrade: 503, window 1 goes on
		{},                                       // 4 upgrade: 200 closes it
		{execErr: errExec, markAfter: "restart"}, // 5 upgrade: exec fails, window untouched
		{fail: true},                             // 6 restart: 503, window 2
	}
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for i, s := range steps {
		select {
		case <-g.entered:
		case <-timeout.C:
			t.Fatalf("request %d never started", i+1)
		}
		if s.markAfter != "" {
			p.Mark(s.markAfter)
		}
		failing.Store(s.fail)
		g.release <- s.execErr
	}
	// Request 7 starts and blocks; Stop cuts it short and it is not counted.
	select {
	case <-g.entered:
	case <-timeout.C:
		t.Fatal("request 7 never started")
	}
	d := p.Stop()
	got := d.Pairs[0]
	if got.Requests != 6 || got.Unexpected != 3 || got.InfraErrors != 1 {
		t.Fatalf("requests %d, unexpected %d, infrastructure errors %d; want 6, 3, 1", got.Requests, got.Unexpected, got.InfraErrors)
	}
	wantPhases := []PhaseCount{
		{Phase: "steady", Requests: 2, Unexpected: 1},
		{Phase: "upgrade", Requests: 3, Unexpected: 1, InfraErrors: 1},
		{Phase: "restart", Requests: 1, Unexpected: 1},
	}
	if fmt.Sprint(got.ByPhase) != fmt.Sprint(wantPhases) {
		t.Errorf("by phase %+v, want %+v", got.ByPhase, wantPhases)
	}
	if len(got.Windows) != 2 || got.Windows[0].Phase != "steady" || got.Windows[0].Requests != 2 ||
		got.Windows[1].Phase != "restart" || got.Windows[1].Requests != 1 || got.Windows[0].EndMs > got.Windows[1].StartMs {
		t.Errorf("windows %+v", got.Windows)
	}
	if len(d.Phases) != 3 || d.Phases[0] != (PhaseMark{Name: "steady"}) || d.Phases[1].Name != "upgrade" || d.Phases[2].Name != "restart" || d.Phases[2].AtMs < d.Phases[1].AtMs {
		t.Errorf("phase marks %+v", d.Phases)
	}
	// Samples: the first two unexpected (Samples: 2), both 503 from the server.
	if len(got.Samples) != 2 || got.Samples[0].HTTPCode != 503 || got.Samples[0].Phase != "steady" || got.Samples[1].Phase != "upgrade" ||
		!strings.Contains(got.Samples[0].Mismatch, "HTTP 503, want 200") {
		t.Errorf("samples %+v", got.Samples)
	}
	if len(got.InfraSamples) != 1 || !strings.Contains(got.InfraSamples[0].Observed, errExec.Error()) || got.InfraSamples[0].Phase != "upgrade" {
		t.Errorf("infrastructure samples %+v", got.InfraSamples)
	}
	// After Stop nothing changes, and Stop again returns the same report.
	p.Mark("late")
	if again := p.Stop(); again.Pairs[0].Requests != 6 || len(again.Phases) != 3 || !again.Stopped.Equal(d.Stopped) {
		t.Errorf("second Stop: %+v", again)
	}

	t.Run("budget", func(t *testing.T) {
		err := d.Check(0)
		if err == nil || !strings.HasPrefix(err.Error(), "3 of 6 background requests got an unexpected outcome, over the error budget of 0:\npair (sleep.bar → httpbin.foo:") {
			t.Errorf("Check(0) = %v", err)
		}
		if err := d.Check(2); err == nil {
			t.Error("Check(2) passed 3 unexpected")
		}
		if err := d.Check(3); err != nil {
			t.Errorf("Check(3) = %v", err)
		}
		recs := d.Records("disruption", "inplace 1.30.5 → 1.31.1", 0)
		if len(recs) != 1 {
			t.Fatalf("%d records", len(recs))
		}
		r := recs[0]
		if r.Verdict != report.VerdictFail || r.Attempts != 6 || r.From != sleepBar.Ref || r.To != (fixtures.Ref{Name: "httpbin", Namespace: "foo"}) ||
			r.Observed == nil || r.Observed.HTTPCode != 503 || r.Message != "pair: 3 of 6 requests got an unexpected outcome, 1 could not be made (error budget 0 for the whole run)" {
			t.Errorf("record %+v", r)
		}
		if recs := d.Records("disruption", "step", 3); recs[0].Verdict != report.VerdictPass {
			t.Errorf("within budget: verdict %s", recs[0].Verdict)
		}
	})
	t.Run("json", func(t *testing.T) {
		path, err := d.WriteJSON(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var back Disruption
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if filepath.Base(path) != DisruptionFile || back.Pairs[0].Unexpected != 3 || fmt.Sprint(back.Pairs[0].ByPhase) != fmt.Sprint(wantPhases) || !back.Stopped.Equal(d.Stopped) {
			t.Errorf("round trip: %+v", back)
		}
	})
}

// TestProberBlindPair: a pair whose every request fails to run observed nothing, and the budget
// check says so instead of reporting zero disruption.
func TestProberBlindPair(t *testing.T) {
	g := &gatedExecutor{entered: make(chan struct{}), release: make(chan error)}
	p, err := StartProber(context.Background(), g, []Pair{{Name: "blind", Target: probe.Target{Client: sleepLegacy, Host: "httpbin.foo", Port: 8000}, Expected: outcome(t, scenarios.ClassReset)}},
		ProberOptions{Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		<-g.entered
		g.release <- errors.New("no ready pod")
	}
	<-g.entered
	d := p.Stop()
	err = d.Check(100)
	if err == nil || err.Error() != "the background prober observed nothing on blind (sleep.legacy → httpbin.foo:8000): none of 2 requests could be made" {
		t.Errorf("Check = %v", err)
	}
	if recs := d.Records("disruption", "step", 100); recs[0].Verdict != report.VerdictInfraError {
		t.Errorf("verdict %s", recs[0].Verdict)
	}
}

func TestStartProberRejects(t *testing.T) {
	if _, err := StartProber(context.Background(), probe.LocalExecutor{}, nil, ProberOptions{}); err == nil || err.Error() != "background prober: no pairs" {
		t.Errorf("no pairs: %v", err)
	}
	bad := scenarios.Outcome{ExitCode: 0, HTTPCode: 200, XFCC: &scenarios.XFCC{By: "a", URI: "b"}} // XFCC without mTLS
	_, err := StartProber(context.Background(), probe.LocalExecutor{}, []Pair{{Name: "bad", Target: probe.Target{Client: sleepBar, Host: "httpbin.foo", Port: 8000}, Expected: bad}}, ProberOptions{})
	if !errors.Is(err, probe.ErrInvalidExpectation) || !strings.HasPrefix(err.Error(), `background pair "bad": `) {
		t.Errorf("invalid expectation: %v", err)
	}
}

// TestPairsForStrictScenario picks the suite's two pairs from the catalog's namespace-strict step.
func TestPairsForStrictScenario(t *testing.T) {
	topo := catalogtest.Topology(t)
	catalog := catalogtest.Catalog(t)
	var expect []scenarios.ProbeOutcome
	for _, s := range catalog {
		if s.Name == "namespace-strict" {
			expect = s.Steps[0].Expect
		}
	}
	if expect == nil {
		t.Fatal("no namespace-strict scenario in the catalog")
	}
	foo := fixtures.Ref{Name: "httpbin", Namespace: "foo"}
	mtlsPair := PairSpec{Name: "mtls", Probe: scenarios.Probe{From: sleepBar.Ref, To: foo, Port: 8000}, Class: scenarios.ClassMTLS}
	legacyPair := PairSpec{Name: "legacy", Probe: scenarios.Probe{From: sleepLegacy.Ref, To: foo, Port: 8000}, Class: scenarios.ClassReset}
	pairs, err := PairsFor(topo, expect, []PairSpec{mtlsPair, legacyPair})
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 2 || pairs[0].Target.URL() != "http://httpbin.foo:8000/headers" || pairs[0].Target.Client.Ref != sleepBar.Ref ||
		pairs[0].Expected.XFCC == nil || pairs[0].Expected.XFCC.URI != "spiffe://cluster.local/ns/bar/sa/sleep" || pairs[0].Expected.XFCC.By != "spiffe://cluster.local/ns/foo/sa/httpbin" ||
		pairs[1].Expected != (scenarios.Outcome{ExitCode: 56, HTTPCode: 0}) {
		t.Errorf("pairs %+v", pairs)
	}
	wrong := legacyPair
	wrong.Class = scenarios.ClassPlaintext
	if _, err := PairsFor(topo, expect, []PairSpec{wrong}); err == nil || err.Error() != `background pair "legacy": sleep.legacy → httpbin.foo:8000 is expected to be "reset", not "plaintext"` {
		t.Errorf("wrong class: %v", err)
	}
	missing := mtlsPair
	missing.Probe.Port = 1234
	if _, err := PairsFor(topo, expect, []PairSpec{missing}); err == nil || !strings.Contains(err.Error(), "is not among the expected outcomes") {
		t.Errorf("missing probe: %v", err)
	}
}
