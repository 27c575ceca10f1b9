package kubeexec

import (
	"testing"

	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// TestClientsRateFitsTheMatrix: every probe attempt looks its client pod up (one rate-limited
// request; the exec stream itself bypasses client-go's limiter), once a second per probe, the
// whole matrix at once by default, with the upgrade's background prober on the same client.
// client-go's default (5 QPS, burst 10; rest.DefaultQPS) would queue most of them.
func TestClientsRateFitsTheMatrix(t *testing.T) {
	topo, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	matrix := len(scenarios.Matrix(topo))
	cfg, cs, err := Clients(&rest.Config{Host: "https://127.0.0.1:1", Timeout: 5})
	if err != nil {
		t.Fatal(err)
	}
	limiter := cs.CoreV1().RESTClient().GetRateLimiter()
	if limiter == nil || limiter.QPS() < float32(matrix) {
		t.Fatalf("exec client rate limit %v QPS, want at least the matrix size %d", limiter.QPS(), matrix)
	}
	if cfg.Timeout != 0 {
		t.Fatalf("exec config keeps a client-wide Timeout %s; each exec is bounded by its context", cfg.Timeout)
	}
	// A caller's higher rate is kept.
	_, cs, err = Clients(&rest.Config{Host: "https://127.0.0.1:1", QPS: 500, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.CoreV1().RESTClient().GetRateLimiter().QPS(); got != 500 {
		t.Fatalf("a caller's 500 QPS became %v", got)
	}
}
