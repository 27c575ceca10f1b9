//go:build localcluster

package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
// 3 matches in a row, 1 s apart) against the 36-probe matrix with at most 1, 8 and 36 execs at
// once (36: the default; the engine runs one exec per client and round, so 4 are ever in flight
// here), and reports the ratio matrix / one probe and the requests' median and slowest time.
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
	// What one exec costs in CPU: the node's (API server, kubelet, containerd, runc, curl,
	// httpbin: everything in the kind node container's cgroup, less its idle rate) and this
	// process's (client-go's TLS and WebSocket). The cores divided by that is the most execs a
	// second the machine can run, however many are in flight.
	b.Run("cpu", func(b *testing.B) {
		node := kindNodeCPU(b, cfg.ClusterName+"-control-plane")
		const execs = 20
		for b.Loop() {
			idleStart, idleFrom := node(), time.Now()
			time.Sleep(5 * time.Second)
			idleRate := float64(node()-idleStart) / float64(time.Since(idleFrom))
			nodeStart, clientStart, from := node(), processCPU(), time.Now()
			for range execs {
				if obs := probe.Once(b.Context(), w.Exec, probes[0].Target, opts); obs.Err != nil || obs.HTTPCode != 200 {
					b.Fatalf("%s: %s", probes[0].Target, obs)
				}
			}
			elapsed := time.Since(from)
			nodeCPU := time.Duration(float64(node()-nodeStart) - idleRate*float64(elapsed))
			clientCPU := processCPU() - clientStart
			perExec := (nodeCPU + clientCPU) / execs
			capacity := float64(runtime.NumCPU()) / perExec.Seconds()
			b.ReportMetric(float64((nodeCPU / execs).Milliseconds()), "node-cpu-ms/exec")
			b.ReportMetric(float64((clientCPU / execs).Milliseconds()), "client-cpu-ms/exec")
			b.ReportMetric(capacity, "max-execs/s")
			b.Logf("CPU per exec: node %s, client %s (node idle: %.0f%% of a core); %d cores: at most %.1f execs/s, so a 36-probe matrix (3 attempts each) needs at least %.1fs",
				(nodeCPU / execs).Round(time.Millisecond), (clientCPU / execs).Round(time.Millisecond), idleRate*100, runtime.NumCPU(), capacity, 108/capacity)
		}
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
			b.Logf("36 probes, at most %d execs at once: %.1fs; one probe: %.1fs; ratio %.2f; exec round trip in the matrix: median %s, slowest %s",
				parallel, matrix.Seconds()/float64(n), single.Seconds()/float64(n), ratio, median.Round(time.Millisecond), slowest.Round(time.Millisecond))
		})
	}
}

// kindNodeCPU returns a reader of the CPU time used so far by the kind node container's cgroup
// (cgroup v1 cpuacct, or v2 cpu.stat), or skips when the host does not expose it.
func kindNodeCPU(b *testing.B, container string) func() time.Duration {
	out, err := exec.Command("docker", "inspect", "-f", "{{.Id}}", container).Output()
	if err != nil {
		b.Skipf("docker inspect %s: %v", container, err)
	}
	id := strings.TrimSpace(string(out))
	v1 := "/sys/fs/cgroup/cpuacct/docker/" + id + "/cpuacct.usage"
	v2 := "/sys/fs/cgroup/system.slice/docker-" + id + ".scope/cpu.stat"
	read := func() (time.Duration, error) {
		if data, err := os.ReadFile(v1); err == nil {
			ns, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			return time.Duration(ns), err
		}
		data, err := os.ReadFile(v2)
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
				us, err := strconv.ParseInt(v, 10, 64)
				return time.Duration(us) * time.Microsecond, err
			}
		}
		return 0, fmt.Errorf("%s has no usage_usec", v2)
	}
	if _, err := read(); err != nil {
		b.Skipf("the node container's CPU usage is not readable here: %v", err)
	}
	return func() time.Duration {
		d, err := read()
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
}

// processCPU is this process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
