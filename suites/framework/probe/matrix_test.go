package probe

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/closedport"
)

// TestRunMatrixRealCurl runs a mixed matrix against real servers: every probe gets its own
// result, in the probes' order, and a probe that cannot converge fails alone.
func TestRunMatrixRealCurl(t *testing.T) {
	requireCurl(t)
	t.Parallel()
	type cell struct {
		addr     string
		expected scenarios.Outcome
		converge bool
		class    Class
	}
	httpbinAddr := startHTTPBin(t).Listener.Addr().String()
	resetAddr := startResetter(t).Addr().String()
	addr503 := start503(t).Listener.Addr().String()
	cells := []cell{
		{httpbinAddr, outcome(t, scenarios.ClassPlaintext), true, ResultOK},
		{resetAddr, outcome(t, scenarios.ClassReset), true, ResultReset},
		{addr503, outcome(t, scenarios.ClassUpstreamError), true, ResultHTTPError},
		{closedport.Addr(t), scenarios.Outcome{ExitCode: 7}, true, ResultRefused},
		// Wrong on purpose: plaintext observed where a reset is expected.
		{httpbinAddr, outcome(t, scenarios.ClassReset), false, ResultOK},
	}
	var probes []Probe
	for range 2 {
		for _, c := range cells {
			probes = append(probes, Probe{Target: localTarget(t, c.addr), Expected: c.expected})
		}
	}
	opts := Options{Consecutive: 2, Interval: 100 * time.Millisecond, Timeout: time.Second, Parallel: 3, ConnectTimeout: time.Second, MaxTime: 2 * time.Second}
	results := RunMatrix(t.Context(), LocalExecutor{}, probes, opts)
	if len(results) != len(probes) {
		t.Fatalf("%d results for %d probes", len(results), len(probes))
	}
	for i, r := range results {
		c := cells[i%len(cells)]
		if !reflect.DeepEqual(r.Probe, probes[i]) {
			t.Errorf("result %d is for %s, want %s", i, r.Probe.Target, probes[i].Target)
		}
		if r.Converged != c.converge || (r.Err == nil) != c.converge || r.Last.Class() != c.class {
			t.Errorf("result %d (%s): converged=%t class=%s err=%v, want converged=%t class=%s", i, r.Probe.Target, r.Converged, r.Last.Class(), r.Err, c.converge, c.class)
		}
		if c.converge && r.Attempts != 2 {
			t.Errorf("result %d: %d attempts, want exactly 2 for 2 consecutive matches", i, r.Attempts)
		}
	}
}

// latencyExecutor answers every curl with a canned plaintext /headers response after a fixed
// latency, like an exec round trip, and records how many execs overlap.
type latencyExecutor struct {
	latency           time.Duration
	inFlight, maxSeen atomic.Int32
	execs             atomic.Int32
}

func (e *latencyExecutor) Exec(ctx context.Context, _ fixtures.Workload, argv []string) (ExecResult, error) {
	n := e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	for {
		m := e.maxSeen.Load()
		if n <= m || e.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	timer := time.NewTimer(e.latency)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ExecResult{}, ctx.Err()
	case <-timer.C:
	}
	e.execs.Add(1)
	return ExecResult{Stdout: cannedPlaintext(argv)}, nil
}

// cannedPlaintext is what curl prints for argv (one request, or several joined by --next) when
// every request gets httpbin's plaintext /headers answer: each body, then its -w line.
func cannedPlaintext(argv []string) []byte {
	const body = `{"headers": {"Host": ["httpbin.foo:8000"]}}`
	var out strings.Builder
	for i := range 1 + countOf(argv, "--next") {
		fmt.Fprintf(&out, "%s\n%s%d 0 200 \n", body, requestMarker, i)
	}
	return []byte(out.String())
}

func countOf(argv []string, s string) int {
	n := 0
	for _, a := range argv {
		if a == s {
			n++
		}
	}
	return n
}

// client is a client workload of its own, named sleep-<i> in legacy.
func client(i int) fixtures.Workload {
	w := sleepLegacy
	w.Ref.Name = "sleep-" + strconv.Itoa(i)
	return w
}

// ownClientProbes are n probes expecting plaintext, each from a client of its own (client(i)), to
// port 8000+i.
func ownClientProbes(t *testing.T, n int) []Probe {
	probes := make([]Probe, n)
	for i := range probes {
		probes[i] = Probe{Target: Target{Client: client(i), Host: "httpbin.foo", Port: 8000 + i}, Expected: outcome(t, scenarios.ClassPlaintext)}
	}
	return probes
}

func TestRunMatrixBoundsConcurrency(t *testing.T) {
	t.Parallel()
	exec := &latencyExecutor{latency: 20 * time.Millisecond}
	probes := ownClientProbes(t, 20)
	results := RunMatrix(t.Context(), exec, probes, Options{Consecutive: 1, Parallel: 5})
	if got := exec.maxSeen.Load(); got != 5 {
		t.Errorf("at most %d execs ran at once, want exactly the pool size 5", got)
	}
	for i, r := range results {
		if !r.Converged || r.Probe.Target.Port != 8000+i {
			t.Errorf("result %d: converged=%t port %d", i, r.Converged, r.Probe.Target.Port)
		}
	}
}

func TestRunMatrixUnboundedByDefault(t *testing.T) {
	t.Parallel()
	exec := &latencyExecutor{latency: 50 * time.Millisecond}
	probes := ownClientProbes(t, 12)
	RunMatrix(t.Context(), exec, probes, Options{Consecutive: 1})
	if got := exec.maxSeen.Load(); got != int32(len(probes)) {
		t.Errorf("at most %d execs ran at once, want all %d (one per client)", got, len(probes))
	}
}

// TestRunMatrixBatchesPerClient: the fixture matrix (4 clients × 9 targets) converging in three
// rounds costs 4 × 3 execs, not 36 × 3, and every probe still gets its three observations.
func TestRunMatrixBatchesPerClient(t *testing.T) {
	t.Parallel()
	exec := &latencyExecutor{latency: 10 * time.Millisecond}
	probes := fixtureMatrix(t)
	results := RunMatrix(t.Context(), exec, probes, Options{Interval: 10 * time.Millisecond})
	if got := exec.execs.Load(); got != 12 {
		t.Errorf("%d execs for the 36-probe matrix, want 12 (4 clients × 3 rounds)", got)
	}
	for i, r := range results {
		if !r.Converged || r.Attempts != 3 || len(r.History) != 3 || r.Probe.Target.String() != probes[i].Target.String() {
			t.Errorf("result %d (%s): converged=%t attempts=%d err=%v", i, r.Probe.Target, r.Converged, r.Attempts, r.Err)
		}
	}
}

func TestRunMatrixCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	probes := make([]Probe, 4)
	for i := range probes {
		probes[i] = Probe{Target: Target{Client: sleepLegacy, Host: "httpbin.foo", Port: 8000}, Expected: outcome(t, scenarios.ClassPlaintext)}
	}
	for i, r := range RunMatrix(ctx, &latencyExecutor{latency: time.Second}, probes, Options{Parallel: 2}) {
		if r == nil || r.Converged || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("result %d: %+v, want a cancelled probe", i, r)
		}
	}
}

// fixtureMatrix is every client × server Service × Service port of the fixtures: 4 × 3 × 3 = 36.
func fixtureMatrix(tb testing.TB) []Probe {
	tb.Helper()
	topo, err := fixtures.Load()
	if err != nil {
		tb.Fatal(err)
	}
	var probes []Probe
	for _, c := range topo.Clients {
		for _, s := range topo.Services {
			for _, port := range s.Ports {
				target, err := TargetFor(topo, scenarios.Probe{From: c.Ref, To: s.Ref, Port: port.Port})
				if err != nil {
					tb.Fatal(err)
				}
				probes = append(probes, Probe{Target: target, Expected: scenarios.Outcome{ExitCode: 0, HTTPCode: 200}})
			}
		}
	}
	return probes
}

// BenchmarkMatrix compares the wall time of the 36-probe fixture matrix with that of one probe,
// with every exec taking 100 ms and the default convergence (3 matches in a row, 1 s apart).
// Run: go test -run='^$' -bench=Matrix -benchtime=1x ./suites/framework/probe
func BenchmarkMatrix(b *testing.B) {
	probes := fixtureMatrix(b)
	if len(probes) != 36 {
		b.Fatalf("fixture matrix has %d probes, want 36", len(probes))
	}
	// A pool of 8 beside the default, the whole matrix at once (settings.Defaults().Concurrency).
	for _, parallel := range []int{8, len(probes)} {
		b.Run("parallel="+strconv.Itoa(parallel), func(b *testing.B) {
			opts := Options{Parallel: parallel}
			var single, matrix time.Duration
			iterations := 0
			for b.Loop() {
				iterations++
				exec := &latencyExecutor{latency: 100 * time.Millisecond}
				start := time.Now()
				if r := Converge(b.Context(), exec, probes[0].Target, probes[0].Expected, opts); !r.Converged {
					b.Fatal(r.Err)
				}
				single += time.Since(start)
				start = time.Now()
				for _, r := range RunMatrix(b.Context(), exec, probes, opts) {
					if !r.Converged {
						b.Fatal(r.Err)
					}
				}
				matrix += time.Since(start)
			}
			n := float64(iterations)
			b.ReportMetric(single.Seconds()/n, "single-s")
			b.ReportMetric(matrix.Seconds()/n, "matrix-s")
			b.ReportMetric(matrix.Seconds()/single.Seconds(), "matrix/single")
			b.Logf("36 probes with %d workers: %.2fs; one probe: %.2fs; ratio %.2f", parallel, matrix.Seconds()/n, single.Seconds()/n, matrix.Seconds()/single.Seconds())
		})
	}
}

// TestBatchCommand: one curl, "-q" once, each request with its own options and -w line after
// --next, in the targets' order.
func TestBatchCommand(t *testing.T) {
	a := Target{Client: sleepLegacy, Host: "httpbin.foo", Port: 8000}
	b := Target{Client: sleepLegacy, Host: "httpbin.bar", Port: 8080, Resolve: "127.0.0.1"}
	got := strings.Join(BatchCommand([]Target{a, b}, Options{}), " ")
	want := `curl -q -sS --noproxy * --connect-timeout 5 --max-time 10 -w \nmtls-conformance-request=0 %{exitcode} %{http_code} %{errormsg}\n http://httpbin.foo:8000/headers` +
		` --next -sS --noproxy * --connect-timeout 5 --max-time 10 -w \nmtls-conformance-request=1 %{exitcode} %{http_code} %{errormsg}\n --resolve httpbin.bar:8080:127.0.0.1 http://httpbin.bar:8080/headers`
	if got != want {
		t.Errorf("BatchCommand:\n got %s\nwant %s", got, want)
	}
}

// TestOnceBatchRealCurl: one real curl run for four servers gives each request the observation a
// curl of its own gives it (exit code, status, XFCC, error message).
func TestOnceBatchRealCurl(t *testing.T) {
	requireCurl(t)
	t.Parallel()
	opts := Options{ConnectTimeout: time.Second, MaxTime: 2 * time.Second}
	targets := []Target{
		localTarget(t, startResetter(t).Addr().String()),
		localTarget(t, startHTTPBin(t).Listener.Addr().String()),
		localTarget(t, closedport.Addr(t)),
		localTarget(t, start503(t).Listener.Addr().String()),
	}
	batch := OnceBatch(t.Context(), LocalExecutor{}, targets, opts)
	if len(batch) != len(targets) {
		t.Fatalf("%d observations for %d targets", len(batch), len(targets))
	}
	for i, target := range targets {
		alone := Once(t.Context(), LocalExecutor{}, target, opts)
		got := batch[i]
		if got.Err != nil || got.Class() != alone.Class() || got.ExitCode != alone.ExitCode || got.HTTPCode != alone.HTTPCode ||
			!reflect.DeepEqual(got.XFCC, alone.XFCC) || got.Body != alone.Body {
			t.Errorf("request %d (%s): batched %s, alone %s", i, target, got, alone)
		}
		if alone.ExitCode != 0 && !strings.HasPrefix(got.Stderr, fmt.Sprintf("curl: (%d) ", alone.ExitCode)) {
			t.Errorf("request %d: stderr %q, want curl's error message", i, got.Stderr)
		}
	}
}

// TestOnceBatchTruncated: a request whose -w line never came (curl stopped early, or what ran was
// not curl) is an infrastructure error, never a verdict; the requests before it keep theirs.
func TestOnceBatchTruncated(t *testing.T) {
	t.Parallel()
	targets := []Target{{Client: sleepLegacy, Host: "httpbin.foo", Port: 8000}, {Client: sleepLegacy, Host: "httpbin.bar", Port: 8000}}
	full := cannedPlaintext(BatchCommand(targets, Options{}))
	first, _, _ := strings.Cut(string(full), "\n"+requestMarker+"1 ")
	obs := OnceBatch(t.Context(), fixedExecutor{res: ExecResult{Stdout: []byte(first), ExitCode: 137}}, targets, Options{})
	if obs[0].Class() != ResultOK || obs[1].Class() != ResultInfraError || !strings.Contains(obs[1].Err.Error(), "printed no result line for request 2 of 2 (exit 137)") {
		t.Errorf("observations %s; %s", obs[0], obs[1])
	}
	obs = OnceBatch(t.Context(), fixedExecutor{err: errors.New("pod gone")}, targets, Options{})
	for i, o := range obs {
		if o.Class() != ResultInfraError || !strings.Contains(o.Err.Error(), "pod gone") {
			t.Errorf("request %d after a failed exec: %s", i, o)
		}
	}
}

// fixedExecutor answers every exec the same.
type fixedExecutor struct {
	res ExecResult
	err error
}

func (f fixedExecutor) Exec(context.Context, fixtures.Workload, []string) (ExecResult, error) {
	return f.res, f.err
}
