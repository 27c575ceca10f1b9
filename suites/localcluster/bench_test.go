//go:build localcluster

package localcluster

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
)

// matrixProbes is the 36-probe fixture matrix (4 clients × 3 httpbin Services × 3 Service
// ports) with the run's expectations: no policy, no sidecars, plaintext everywhere.
func matrixProbes(tb testing.TB) []probe.Probe {
	tb.Helper()
	expect, err := w.Baseline()
	if err != nil {
		tb.Fatal(err)
	}
	probes, err := probe.ProbesFor(w.Topology, expect)
	if err != nil {
		tb.Fatal(err)
	}
	if len(probes) != 36 {
		tb.Fatalf("the fixture matrix has %d probes, want 36", len(probes))
	}
	return probes
}

// BenchmarkKubeletExec measures, through the real kubelet (the API server's exec subresource,
// client-go remotecommand), one probe's exec round trip, then one probe converged (the default
// 3 matches in a row, 1 s apart) against the 36-probe matrix at 1, 8 and 36 probes at once (36:
// the default, a step's whole matrix), and reports the ratio matrix / one probe and the execs'
// median and slowest round trip inside the matrix.
//
//	make bench-kind
func BenchmarkKubeletExec(b *testing.B) {
	probes := matrixProbes(b)
	opts := w.ProbeOptions()
	// Untimed: the whole matrix converged once, so that every Service has its endpoints in the
	// node's rules (before that, curl is refused: exit 7) and the exec path is warm.
	for _, r := range probe.RunMatrix(b.Context(), w.Exec, probes, opts) {
		if !r.Converged {
			b.Fatalf("warm-up: %s: %v", r.Probe.Target, r.Err)
		}
	}
	b.Run("exec", func(b *testing.B) {
		// Ten execs one after another per iteration: -benchtime=1x keeps the matrices to one run.
		var execs []time.Duration
		for b.Loop() {
			for range 10 {
				obs := probe.Once(b.Context(), w.Exec, probes[0].Target, opts)
				if obs.Err != nil || obs.ExitCode != 0 || obs.HTTPCode != 200 {
					b.Fatalf("%s: %s", probes[0].Target, obs)
				}
				execs = append(execs, obs.Duration)
			}
		}
		slices.Sort(execs)
		b.ReportMetric(float64(execs[len(execs)/2].Milliseconds()), "median-exec-ms")
		b.Logf("one exec round trip, %d in a row: median %s, fastest %s, slowest %s", len(execs),
			execs[len(execs)/2].Round(time.Millisecond), execs[0].Round(time.Millisecond), execs[len(execs)-1].Round(time.Millisecond))
	})
	for _, parallel := range []int{1, 8, len(probes)} {
		b.Run("matrix/concurrency="+strconv.Itoa(parallel), func(b *testing.B) {
			o := opts
			o.Parallel = parallel
			var single, matrix time.Duration
			var execs []time.Duration
			n := 0
			for b.Loop() {
				n++
				start := time.Now()
				if r := probe.Converge(b.Context(), w.Exec, probes[0].Target, probes[0].Expected, o); !r.Converged {
					b.Fatal(r.Err)
				}
				single += time.Since(start)
				start = time.Now()
				for _, r := range probe.RunMatrix(b.Context(), w.Exec, probes, o) {
					if !r.Converged {
						b.Fatalf("%s: %v", r.Probe.Target, r.Err)
					}
					for _, obs := range r.History {
						execs = append(execs, obs.Duration)
					}
				}
				matrix += time.Since(start)
			}
			slices.Sort(execs)
			median, slowest := execs[len(execs)/2], execs[len(execs)-1]
			ratio := matrix.Seconds() / single.Seconds()
			b.ReportMetric(single.Seconds()/float64(n), "single-s")
			b.ReportMetric(matrix.Seconds()/float64(n), "matrix-s")
			b.ReportMetric(ratio, "matrix/single")
			b.ReportMetric(float64(median.Milliseconds()), "median-exec-ms")
			b.ReportMetric(float64(slowest.Milliseconds()), "max-exec-ms")
			b.Logf("36 probes, %d at once: %.1fs; one probe: %.1fs; ratio %.2f; exec round trip in the matrix: median %s, slowest %s",
				parallel, matrix.Seconds()/float64(n), single.Seconds()/float64(n), ratio, median.Round(time.Millisecond), slowest.Round(time.Millisecond))
		})
	}
}
