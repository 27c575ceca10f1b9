package wire

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
)

// Request is one probe on the wire: a client workload to a Service port, HTTP or TCP.
type Request struct {
	Client fixtures.Workload
	// Service is the Service's name.namespace; Port its port, TargetPort the workload port the
	// server pod receives on.
	Service    fixtures.Ref
	Port       int
	TargetPort int
	TCP        bool
}

func (r Request) String() string {
	s := fmt.Sprintf("%s → %s:%d", r.Client.Ref, r.Service, r.Port)
	if r.TCP {
		s += " (TCP)"
	}
	return s
}

// TCPMaxTime bounds a TCP probe: Istio's echo keeps the connection open, so curl ends at
// --max-time (exit 28) with what came back.
const TCPMaxTime = 3 * time.Second

// Command is the client's command line carrying canary. HTTP: curl to go-httpbin's /anything/
// <canary> (the canary in the request line). TCP: curl's gopher:// sends the path after "/_"
// plus CRLF as raw bytes and prints what the echo returns ("hello <canary>").
func (r Request) Command(canary string, maxTime time.Duration) []string {
	host := r.Service.Name + "." + r.Service.Namespace
	secs := strconv.FormatFloat(maxTime.Seconds(), 'f', -1, 64)
	if r.TCP {
		return []string{"curl", "-q", "-sS", "--noproxy", "*", "--max-time", strconv.FormatFloat(TCPMaxTime.Seconds(), 'f', -1, 64),
			fmt.Sprintf("gopher://%s:%d/_%s", host, r.Port, canary)}
	}
	return []string{"curl", "-q", "-sS", "--noproxy", "*", "--max-time", secs, "-o", "/dev/null", "-w", "%{http_code}",
		fmt.Sprintf("http://%s:%d/anything/%s", host, r.Port, canary)}
}

// Result is one request's wire verdict and what the client saw.
type Result struct {
	Request Request
	Canary  string
	Verdict Verdict
	// ExitCode is curl's; Output its stdout (HTTP: the status code; TCP: the echo).
	ExitCode int
	Output   string
	// Echoed: a TCP request got "hello <canary>" back.
	Echoed bool
	// Err is an infrastructure error (a pod not found, the capture or the exec failed); a
	// NothingCaptured verdict is one too (Verdict.Kind).
	Err error
}

// Run captures the wire for every request at once: one tcpdump per server node, filtered on
// every flow, while the requests run in parallel (each with its own canary), then judges every
// flow. kube finds the pods by the fixtures' app label; exec runs curl in the clients.
func Run(ctx context.Context, c *Capturer, exec probe.Executor, topo *fixtures.Topology, reqs []Request, maxTime time.Duration) []Result {
	out := make([]Result, len(reqs))
	byNode := map[string][]int{}
	flows := make([]Flow, len(reqs))
	for i, r := range reqs {
		out[i] = Result{Request: r, Canary: NewCanary()}
		client, err := c.onePod(ctx, r.Client.Namespace, r.Client.PodLabels)
		if err == nil {
			svc, _ := topo.Service(r.Service)
			servers := topo.ServiceWorkloads(svc)
			var server *corev1.Pod
			if len(servers) != 1 {
				err = fmt.Errorf("%w: Service %s selects %d workloads, want one", ErrCapture, r.Service, len(servers))
			} else if server, err = c.onePod(ctx, servers[0].Namespace, servers[0].PodLabels); err == nil {
				flows[i], err = PodFlow(client, server, r.TargetPort)
				byNode[server.Spec.NodeName] = append(byNode[server.Spec.NodeName], i)
			}
		}
		out[i].Err = err
	}
	captures := map[string]*Capture{}
	for node, idx := range byNode {
		var fs []Flow
		for _, i := range idx {
			fs = append(fs, flows[i])
		}
		cp, err := c.Start(ctx, node, Filter(fs))
		if err != nil {
			for _, i := range idx {
				out[i].Err = err
			}
			continue
		}
		captures[node] = cp
	}
	var wg sync.WaitGroup
	for i := range reqs {
		if out[i].Err != nil {
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := exec.Exec(ctx, reqs[i].Client, reqs[i].Command(out[i].Canary, maxTime))
			if err != nil {
				out[i].Err = fmt.Errorf("%w: %v", ErrCapture, err)
				return
			}
			out[i].ExitCode, out[i].Output = res.ExitCode, string(res.Stdout)
			out[i].Echoed = reqs[i].TCP && strings.Contains(out[i].Output, "hello "+out[i].Canary)
		}(i)
	}
	wg.Wait()
	for node, cp := range captures {
		pcap, err := cp.Stop(ctx)
		var segs []Segment
		if err == nil {
			segs, err = ReadPcap(pcap)
		}
		var cells []Cell
		var idx []int
		for _, i := range byNode[node] {
			if out[i].Err == nil {
				cells = append(cells, Cell{Flow: flows[i], Canary: out[i].Canary})
				idx = append(idx, i)
			}
		}
		if err != nil {
			for _, i := range idx {
				out[i].Err = fmt.Errorf("%w: %v", ErrCapture, err)
			}
			continue
		}
		for j, v := range Judge(segs, cells) {
			out[idx[j]].Verdict = v
			if v.Kind == NothingCaptured {
				out[idx[j]].Err = fmt.Errorf("%w: %s (filter %s)", ErrCapture, v.Detail, cp.Filter)
			}
		}
	}
	return out
}

// onePod is the newest running pod with these labels.
func (c *Capturer) onePod(ctx context.Context, namespace string, podLabels map[string]string) (*corev1.Pod, error) {
	app, ok := podLabels[probe.AppLabel]
	if !ok {
		return nil, fmt.Errorf("%w: workload in %s has no %q label", ErrCapture, namespace, probe.AppLabel)
	}
	sel := labels.SelectorFromSet(labels.Set{probe.AppLabel: app}).String()
	list, err := c.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("%w: pods %s in %s: %v", ErrCapture, sel, namespace, err)
	}
	var best *corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if !mesh.PodLive(p) || p.Status.PodIP == "" {
			continue
		}
		if best == nil || p.CreationTimestamp.After(best.CreationTimestamp.Time) {
			best = p
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: no running pod %s in %s", ErrCapture, sel, namespace)
	}
	return best, nil
}
