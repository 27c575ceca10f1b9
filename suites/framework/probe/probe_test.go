package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/closedport"
)

func outcome(t *testing.T, c scenarios.Class) scenarios.Outcome {
	t.Helper()
	o, err := c.Outcome(serverID, clientID)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// fast keeps real-curl tests short; the defaults are covered by TestOptionsDefaults.
var fast = Options{Interval: 100 * time.Millisecond, Timeout: 10 * time.Second, ConnectTimeout: 2 * time.Second, MaxTime: 3 * time.Second}

func checkObservation(t *testing.T, obs *Observation, class Class, exit, httpCode int) {
	t.Helper()
	if obs.Class() != class || obs.ExitCode != exit || obs.HTTPCode != httpCode {
		t.Fatalf("observed %s (stderr %q), want class %s, exit %d, HTTP %03d", obs, obs.Stderr, class, exit, httpCode)
	}
}

// TestOutcomeClasses produces every outcome class with real curl against real servers on
// 127.0.0.1 and checks the observation, its class and Match against the scenario outcome.
func TestOutcomeClasses(t *testing.T) {
	requireCurl(t)
	exec := LocalExecutor{}
	ctx := t.Context()

	t.Run("ok plaintext go-httpbin without XFCC", func(t *testing.T) {
		t.Parallel()
		target := localTarget(t, startHTTPBin(t).Listener.Addr().String())
		obs := Once(ctx, exec, target, fast)
		checkObservation(t, obs, ResultOK, 0, 200)
		// httpbin echoed the Host curl sent: the cluster-shaped URL reached it through --resolve.
		if got, want := obs.Headers.Get("Host"), fmt.Sprintf("httpbin.foo:%d", target.Port); got != want {
			t.Errorf("echoed Host %q, want %q", got, want)
		}
		if obs.XFCC != nil {
			t.Errorf("XFCC %q, want absent", obs.XFCC)
		}
		if err := Match(outcome(t, scenarios.ClassPlaintext), obs); err != nil {
			t.Errorf("Match(plaintext): %v", err)
		}
		err := Match(outcome(t, scenarios.ClassMTLS), obs)
		if err == nil || !strings.Contains(err.Error(), "X-Forwarded-Client-Cert is absent but the connection should be mutual TLS") {
			t.Errorf("Match(mtls) on plaintext = %v", err)
		}
	})

	t.Run("ok mTLS front with XFCC of the client certificate", func(t *testing.T) {
		t.Parallel()
		p := newPKI(t)
		front := startXFCCFront(t, p, startHTTPBin(t))
		target := localTarget(t, front.Listener.Addr().String())
		target.TLS = p.clientTLS()
		obs := Once(ctx, exec, target, fast)
		checkObservation(t, obs, ResultOK, 0, 200)
		if len(obs.XFCCElements) != 1 {
			t.Fatalf("XFCC %q parsed into %d elements (err %v), want 1", obs.XFCC, len(obs.XFCCElements), obs.XFCCErr)
		}
		e := obs.XFCCElements[0]
		sum := sha256.Sum256(p.clientDER)
		if !reflect.DeepEqual(e.By, []string{serverID}) || !reflect.DeepEqual(e.URI, []string{clientID}) ||
			e.Hash != hex.EncodeToString(sum[:]) || !e.HasSubject || e.Subject != "" {
			t.Fatalf("XFCC %+v, want By=%s URI=%s Hash=%x Subject=\"\"", e, serverID, clientID, sum)
		}
		if err := Match(outcome(t, scenarios.ClassMTLS), obs); err != nil {
			t.Errorf("Match(mtls): %v", err)
		}
		wrongClient, err := scenarios.ClassMTLS.Outcome(serverID, "spiffe://cluster.local/ns/foo/sa/sleep")
		if err != nil {
			t.Fatal(err)
		}
		if err := Match(wrongClient, obs); err == nil || !strings.Contains(err.Error(), `URI=["`+clientID+`"], want ["spiffe://cluster.local/ns/foo/sa/sleep"]`) {
			t.Errorf("Match(mtls, other client) = %v", err)
		}
		err = Match(outcome(t, scenarios.ClassPlaintext), obs)
		if err == nil || !strings.Contains(err.Error(), "is present but the connection should not be mutual TLS") {
			t.Errorf("Match(plaintext) on mTLS = %v", err)
		}
	})

	t.Run("reset exit 56", func(t *testing.T) {
		t.Parallel()
		obs := Once(ctx, exec, localTarget(t, startResetter(t).Addr().String()), fast)
		checkObservation(t, obs, ResultReset, 56, 0)
		if !strings.Contains(obs.Stderr, "(56)") {
			t.Errorf("stderr %q does not report curl error 56", obs.Stderr)
		}
		if err := Match(outcome(t, scenarios.ClassReset), obs); err != nil {
			t.Errorf("Match(reset): %v", err)
		}
	})

	t.Run("HTTP 503", func(t *testing.T) {
		t.Parallel()
		obs := Once(ctx, exec, localTarget(t, start503(t).Listener.Addr().String()), fast)
		checkObservation(t, obs, ResultHTTPError, 0, 503)
		if obs.Body != envoy503Body {
			t.Errorf("body %q, want %q", obs.Body, envoy503Body)
		}
		if err := Match(outcome(t, scenarios.ClassUpstreamError), obs); err != nil {
			t.Errorf("Match(503): %v", err)
		}
		if err := Match(outcome(t, scenarios.ClassPlaintext), obs); err == nil || err.Error() != "HTTP 503, want 200" {
			t.Errorf("Match(plaintext) on 503 = %v", err)
		}
	})

	t.Run("timeout exit 28", func(t *testing.T) {
		t.Parallel()
		opts := fast
		opts.MaxTime = time.Second
		obs := Once(ctx, exec, localTarget(t, startBlackHole(t).Addr().String()), opts)
		checkObservation(t, obs, ResultTimeout, 28, 0)
		if obs.Duration < time.Second {
			t.Errorf("curl gave up after %s, before its --max-time 1s", obs.Duration)
		}
		if err := Match(scenarios.Outcome{ExitCode: 28}, obs); err != nil {
			t.Errorf("Match(exit 28): %v", err)
		}
	})

	t.Run("refused exit 7", func(t *testing.T) {
		t.Parallel()
		obs := Once(ctx, exec, localTarget(t, closedport.Addr(t)), fast)
		checkObservation(t, obs, ResultRefused, 7, 0)
		err := Match(outcome(t, scenarios.ClassReset), obs)
		if err == nil || err.Error() != "curl exit code 7, want 56" {
			t.Errorf("Match(reset) on refused = %v", err)
		}
	})

	t.Run("TLS failure exit 35 without a client certificate", func(t *testing.T) {
		t.Parallel()
		p := newPKI(t)
		target := localTarget(t, startXFCCFront(t, p, startHTTPBin(t)).Listener.Addr().String())
		// TLS 1.2, so the server's rejection of the missing certificate ends the handshake
		// itself (with TLS 1.3 the client finishes first and sees the alert while reading).
		target.TLS = &ClientTLS{CAFile: p.caFile, MaxVersion: "1.2"}
		obs := Once(ctx, exec, target, fast)
		checkObservation(t, obs, ResultTLSFailure, 35, 0)
	})

	t.Run("TLS failure exit 35 speaking TLS to plaintext", func(t *testing.T) {
		t.Parallel()
		target := localTarget(t, startHTTPBin(t).Listener.Addr().String())
		target.TLS = &ClientTLS{}
		obs := Once(ctx, exec, target, fast)
		checkObservation(t, obs, ResultTLSFailure, 35, 0)
	})

	t.Run("infrastructure error when the binary is missing", func(t *testing.T) {
		t.Parallel()
		obs := Once(ctx, renameExecutor{"/nonexistent/curl"}, localTarget(t, closedport.Addr(t)), fast)
		if obs.Class() != ResultInfraError || !errors.Is(obs.Err, ErrInfrastructure) {
			t.Fatalf("observed %s, want an infrastructure error", obs)
		}
		if err := Match(outcome(t, scenarios.ClassReset), obs); !errors.Is(err, ErrInfrastructure) {
			t.Errorf("Match on infrastructure error = %v, want ErrInfrastructure", err)
		}
	})

	t.Run("infrastructure error when the command is not curl", func(t *testing.T) {
		t.Parallel()
		// "true" exits 0 without the write-out line: exit 0 must not pass for a curl result.
		obs := Once(ctx, renameExecutor{"true"}, localTarget(t, closedport.Addr(t)), fast)
		if obs.Class() != ResultInfraError || !strings.Contains(obs.Err.Error(), "printed no result line for request 1 of 1 (exit 0)") {
			t.Fatalf("observed %s, want an infrastructure error", obs)
		}
	})
}

// renameExecutor runs a different program in place of curl, with the same arguments.
type renameExecutor struct{ bin string }

func (r renameExecutor) Exec(ctx context.Context, w fixtures.Workload, argv []string) (ExecResult, error) {
	return LocalExecutor{}.Exec(ctx, w, append([]string{r.bin}, argv[1:]...))
}

func TestConvergeAfterFlip(t *testing.T) {
	requireCurl(t)
	t.Parallel()
	const flipDelay = 1500 * time.Millisecond
	var flipAt atomic.Int64 // unix nanoseconds, set when convergence starts
	srv := okOrReset(t, func() bool { return time.Now().UnixNano() < flipAt.Load() })

	opts := fast
	opts.History = 50
	target := localTarget(t, srv.Listener.Addr().String())
	flipAt.Store(time.Now().Add(flipDelay).UnixNano())
	res := Converge(t.Context(), LocalExecutor{}, target, outcome(t, scenarios.ClassReset), opts)
	if !res.Converged || res.Err != nil {
		t.Fatalf("did not converge: %v", res.Err)
	}
	if first := res.History[0]; first.Class() != ResultOK {
		t.Errorf("first observation %s, want the 200 before the flip", first)
	}
	n := len(res.History)
	for _, o := range res.History[n-3:] {
		if o.Class() != ResultReset {
			t.Errorf("observation #%d %s, want reset", o.Attempt, o)
		}
	}
	if res.Attempts != n || res.Attempts < 4 {
		t.Errorf("attempts %d, history %d: want at least one 200 then 3 resets, all kept", res.Attempts, n)
	}
	// The run of resets began with the first request that reached the server after the flip:
	// that attempt started at most its own duration before the flip (100 ms of slack for the
	// instant between setting the flip and Converge's clock starting).
	firstReset := res.History[n-3]
	if res.StableAfter != firstReset.At || res.StableAfter+firstReset.Duration+100*time.Millisecond < flipDelay {
		t.Errorf("stable after %s (first reset at +%s, took %s), want it at the flip, +%s", res.StableAfter, firstReset.At, firstReset.Duration, flipDelay)
	}
	// Three attempts an interval apart complete the run.
	if res.Elapsed < res.StableAfter+2*opts.Interval {
		t.Errorf("elapsed %s < stable after %s + 2 intervals", res.Elapsed, res.StableAfter)
	}
	t.Logf("converged after %d attempts: stable after %s, elapsed %s", res.Attempts, res.StableAfter, res.Elapsed)
}

func TestConvergeNeverFailsClearly(t *testing.T) {
	requireCurl(t)
	t.Parallel()
	target := localTarget(t, startHTTPBin(t).Listener.Addr().String())
	opts := Options{Interval: 200 * time.Millisecond, Timeout: 1500 * time.Millisecond, History: 3, ConnectTimeout: time.Second, MaxTime: 2 * time.Second}
	start := time.Now()
	res := Converge(t.Context(), LocalExecutor{}, target, outcome(t, scenarios.ClassReset), opts)
	took := time.Since(start)
	if res.Converged || !errors.Is(res.Err, ErrNotConverged) || errors.Is(res.Err, ErrInfrastructure) {
		t.Fatalf("converged=%t err=%v, want a not-converged mismatch", res.Converged, res.Err)
	}
	// Attempts start every 200 ms while the next start is before the 1.5 s deadline: at most 8.
	if res.Attempts < 2 || res.Attempts > 8 || len(res.History) != 3 {
		t.Errorf("attempts %d, history %d: want 2..8 attempts and the last 3 kept", res.Attempts, len(res.History))
	}
	if took > opts.Timeout+opts.MaxTime+DefaultExecGrace {
		t.Errorf("took %s, beyond the bound", took)
	}
	msg := res.Err.Error()
	for _, want := range []string{
		fmt.Sprintf("sleep.legacy → httpbin.foo:%d did not converge within 1.5s: %d attempts, 3 consecutive matches needed", target.Port, res.Attempts),
		"\n  expected: exit 56, HTTP 000, no XFCC [reset]\n",
		"\n  observed: exit 0, HTTP 200, no XFCC [ok]\n",
		"\n  mismatch: curl exit code 0, want 56; HTTP 200, want 000\n",
		"\n  stderr:   (no stderr)\n",
		fmt.Sprintf("\n  command:  curl -q -sS --noproxy '*' --connect-timeout 1 --max-time 2 -w '\\nmtls-conformance-request=0 %%{exitcode} %%{http_code} %%{errormsg}\\n' --resolve httpbin.foo:%d:127.0.0.1 http://httpbin.foo:%d/headers\n", target.Port, target.Port),
		"\n  last 3 observations:\n",
		fmt.Sprintf("    #%d at +", res.Attempts),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
	t.Logf("failure message:\n%s", msg)
}

// TestConvergeNeedsConsecutive: a server alternating 200 and reset matches "plaintext" every
// other time, never three times in a row.
func TestConvergeNeedsConsecutive(t *testing.T) {
	requireCurl(t)
	t.Parallel()
	var n atomic.Int64
	srv := okOrReset(t, func() bool { return n.Add(1)%2 == 1 })
	opts := fast
	opts.Timeout = 1200 * time.Millisecond
	res := Converge(t.Context(), LocalExecutor{}, localTarget(t, srv.Listener.Addr().String()), outcome(t, scenarios.ClassPlaintext), opts)
	if res.Converged || !errors.Is(res.Err, ErrNotConverged) || res.Attempts < 3 {
		t.Fatalf("converged=%t attempts=%d err=%v, want no convergence after >= 3 attempts", res.Converged, res.Attempts, res.Err)
	}
	var matched, reset int
	for _, o := range res.History {
		switch o.Class() {
		case ResultOK:
			matched++
		case ResultReset:
			reset++
		}
	}
	if matched == 0 || reset == 0 {
		t.Errorf("history %v: want both 200s and resets", res.History)
	}
}

func TestConvergeStopsWithContext(t *testing.T) {
	requireCurl(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := Converge(ctx, LocalExecutor{}, localTarget(t, startBlackHole(t).Addr().String()), outcome(t, scenarios.ClassReset),
		Options{Timeout: time.Minute, MaxTime: 30 * time.Second})
	if !errors.Is(res.Err, context.DeadlineExceeded) || res.Converged {
		t.Fatalf("err %v, want the context's deadline", res.Err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("returned after %s, want promptly after the context ended", took)
	}
}

func TestConvergeRejectsInvalidExpectation(t *testing.T) {
	// (exit 0, 200, mTLS without XFCC is the ambient class hbone, valid since issue 16.)
	bad := scenarios.Outcome{ExitCode: 0, HTTPCode: 200, XFCC: &scenarios.XFCC{By: serverID, URI: clientID}}
	res := Converge(t.Context(), LocalExecutor{}, Target{Client: sleepLegacy, Host: "httpbin.foo", Port: 8000}, bad, Options{})
	if !errors.Is(res.Err, ErrInvalidExpectation) || res.Attempts != 0 {
		t.Fatalf("err %v after %d attempts, want ErrInvalidExpectation before any attempt", res.Err, res.Attempts)
	}
	for _, o := range []scenarios.Outcome{
		{ExitCode: 56, MTLS: true, XFCC: &scenarios.XFCC{By: serverID, URI: clientID}},
		{ExitCode: 0, HTTPCode: 200, XFCC: &scenarios.XFCC{By: serverID, URI: clientID}},
		{ExitCode: 0, HTTPCode: 200, MTLS: true, XFCC: &scenarios.XFCC{By: serverID}},
	} {
		if err := Match(o, &Observation{}); !errors.Is(err, ErrInvalidExpectation) {
			t.Errorf("Match(%+v) = %v, want ErrInvalidExpectation", o, err)
		}
	}
}

func TestCommand(t *testing.T) {
	target := Target{Client: sleepLegacy, Host: "httpbin.foo", Port: 8000}
	want := []string{"curl", "-q", "-sS", "--noproxy", "*", "--connect-timeout", "5", "--max-time", "10",
		"-w", `\nmtls-conformance-request=0 %{exitcode} %{http_code} %{errormsg}\n`, "http://httpbin.foo:8000/headers"}
	if got := Command(target, Options{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("Command\n got  %q\n want %q", got, want)
	}
	target.Resolve, target.Path = "127.0.0.1", "/ip"
	target.TLS = &ClientTLS{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", MaxVersion: "1.2"}
	got := Command(target, Options{ConnectTimeout: 1500 * time.Millisecond, MaxTime: 2 * time.Second})
	want = []string{"curl", "-q", "-sS", "--noproxy", "*", "--connect-timeout", "1.5", "--max-time", "2",
		"-w", `\nmtls-conformance-request=0 %{exitcode} %{http_code} %{errormsg}\n`, "--resolve", "httpbin.foo:8000:127.0.0.1",
		"--cacert", "ca.pem", "--cert", "c.pem", "--key", "k.pem", "--tls-max", "1.2", "https://httpbin.foo:8000/ip"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Command\n got  %q\n want %q", got, want)
	}
}

func TestOptionsDefaults(t *testing.T) {
	got := Options{}.withDefaults()
	want := Options{Consecutive: 3, Timeout: 120 * time.Second, Interval: time.Second, ConnectTimeout: 5 * time.Second,
		MaxTime: 10 * time.Second, ExecGrace: 10 * time.Second, History: 5}
	if got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	custom := Options{Consecutive: 5, Timeout: time.Minute, Parallel: 2}.withDefaults()
	if custom.Consecutive != 5 || custom.Timeout != time.Minute || custom.Parallel != 2 || custom.Interval != time.Second {
		t.Fatalf("custom options overwritten: %+v", custom)
	}
}

func TestParseHeaders(t *testing.T) {
	const xfccValue = `By=spiffe://cluster.local/ns/foo/sa/httpbin;Hash=0123;Subject="";URI=spiffe://cluster.local/ns/foo/sa/sleep`
	cases := map[string]string{
		// go-httpbin (the current Istio sample) marshals http.Header: arrays.
		"go-httpbin": `{"headers": {"Host": ["httpbin.foo:8000"], "X-Forwarded-Client-Cert": ["` + strings.ReplaceAll(xfccValue, `"`, `\"`) + `"]}}`,
		// kennethreitz/httpbin (older docs) wrote one string per header.
		"kennethreitz": `{"headers": {"Host": "httpbin.foo:8000", "X-Forwarded-Client-Cert": "` + strings.ReplaceAll(xfccValue, `"`, `\"`) + `"}}`,
	}
	for name, body := range cases {
		h, err := parseHeaders(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h.Get("host") != "httpbin.foo:8000" || !reflect.DeepEqual(h.Values("x-forwarded-client-cert"), []string{xfccValue}) {
			t.Errorf("%s: parsed %v", name, h)
		}
	}
	for body, want := range map[string]string{
		"upstream connect error":     "body is not httpbin's /headers JSON",
		`{"origin": "10.0.0.1"}`:     `body has no "headers" object`,
		`{"headers": {"Host": 1}}`:   `header "Host" is neither a string nor an array of strings`,
		`{"headers": {"Host": [1]}}`: `header "Host" is neither a string nor an array of strings`,
	} {
		if _, err := parseHeaders(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseHeaders(%q) = %v, want %q", body, err, want)
		}
	}
}

func TestTargetFor(t *testing.T) {
	topo, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	p := scenarios.Probe{From: fixtures.Ref{Name: "sleep", Namespace: "legacy"}, To: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, Port: 8000}
	target, err := TargetFor(topo, p)
	if err != nil {
		t.Fatal(err)
	}
	if target.URL() != "http://httpbin.foo:8000/headers" || target.Client.Ref != p.From || target.Client.PodLabels[AppLabel] != "sleep" ||
		target.Client.Container == "" || target.String() != "sleep.legacy → httpbin.foo:8000" {
		t.Errorf("target %+v, URL %s", target, target.URL())
	}
	for _, bad := range []scenarios.Probe{
		{From: p.To, To: p.To, Port: 8000},
		{From: p.From, To: fixtures.Ref{Name: "nope", Namespace: "foo"}, Port: 8000},
		{From: p.From, To: p.To, Port: 9999},
	} {
		if _, err := TargetFor(topo, bad); err == nil {
			t.Errorf("TargetFor(%s) accepted", bad)
		}
	}
}
