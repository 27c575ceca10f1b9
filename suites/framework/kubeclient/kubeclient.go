// Package kubeclient owns the client-side rate limit of every Kubernetes client the suite
// builds (fixtures, Helm's readiness checks, the exec client of probes, diagnostics and
// authcheck), so it is set in one place.
package kubeclient

import "k8s.io/client-go/rest"

// QPS and Burst replace client-go's defaults of 5 QPS and a burst of 10 (rest.DefaultQPS,
// rest.DefaultBurst), which would queue the suite's requests: readiness and cleanup poll many
// objects a second, and every probe attempt looks its client pod up once a second, the whole
// matrix (36 probes) at once by default, beside the upgrade's background prober.
const (
	QPS   = 50
	Burst = 100
)

// Config returns a copy of cfg limited to at least QPS and Burst. A caller's higher limit, its
// own RateLimiter, or a disabled limiter (a negative QPS) is kept.
func Config(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	if out.RateLimiter != nil || out.QPS < 0 {
		return out
	}
	out.QPS = max(out.QPS, QPS)
	out.Burst = max(out.Burst, Burst)
	return out
}
