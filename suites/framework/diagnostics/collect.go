// Package diagnostics collects what explains a failed spec, into a folder of the run: the spec's
// failure, both pods' logs (the application containers and the istio-proxy sidecars), both
// sidecars' Envoy config_dump (where a sidecar exists), the PeerAuthentication and
// DestinationRule objects in force, and the namespaces' events. Collection is capped in count
// (specs per run) and size (per file, per spec), never fails the suite, and everything written is
// redacted: no tokens, no private keys, no Secret data, no kubeconfig credentials.
package diagnostics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// EmptyLog is written for a container whose log is empty.
const EmptyLog = "(no log lines)\n"

// PolicyResources are the objects that decide a probe's TLS: PeerAuthentication on the server
// side, DestinationRule on the client side (istio.io/client-go v1 API groups).
var PolicyResources = []schema.GroupVersionResource{
	{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"},
	{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
}

// ErrLimitReached is returned by Collect once MaxSpecs specs of the run have diagnostics.
var ErrLimitReached = errors.New("diagnostics: limit of collected specs reached")

// Limits cap what is collected. Zero fields take the defaults.
type Limits struct {
	// MaxSpecs is how many failed specs of a run get diagnostics (default 10): when everything
	// fails, the first few explain it and the rest would only fill the disk.
	MaxSpecs int
	// MaxFileBytes caps each file (default 2 MiB): logs keep their end, other files their start.
	MaxFileBytes int
	// MaxSpecBytes caps one spec's folder (default 8 MiB); files past it are skipped and listed.
	MaxSpecBytes int
	// MaxPodsPerWorkload caps the pods collected per workload (default 2: during a restart the
	// old and the new pod).
	MaxPodsPerWorkload int
	// LogTailLines is how many of a container's last log lines are fetched (default 2000).
	LogTailLines int64
	// MaxEvents caps each namespace's events, the newest kept (default 200).
	MaxEvents int
	// Timeout bounds one Collect (default 2 min), so a broken cluster cannot hold the suite.
	Timeout time.Duration
}

// The defaults.
const (
	DefaultMaxSpecs           = 10
	DefaultMaxFileBytes       = 2 << 20
	DefaultMaxSpecBytes       = 8 << 20
	DefaultMaxPodsPerWorkload = 2
	DefaultLogTailLines       = 2000
	DefaultMaxEvents          = 200
	DefaultTimeout            = 2 * time.Minute
)

func (l Limits) withDefaults() Limits {
	settings.OrDefault(&l.MaxSpecs, DefaultMaxSpecs)
	settings.OrDefault(&l.MaxFileBytes, DefaultMaxFileBytes)
	settings.OrDefault(&l.MaxSpecBytes, DefaultMaxSpecBytes)
	settings.OrDefault(&l.MaxPodsPerWorkload, DefaultMaxPodsPerWorkload)
	settings.OrDefault(&l.MaxEvents, DefaultMaxEvents)
	settings.OrDefault(&l.LogTailLines, DefaultLogTailLines)
	settings.OrDefault(&l.Timeout, DefaultTimeout)
	return l
}

// Collector writes diagnostics under Dir (the run's diagnostics folder). It is safe for
// concurrent use, also from several processes sharing Dir: the spec count is enforced by
// claiming numbered slots with mkdir, which only one caller can win.
type Collector struct {
	Cluster Cluster
	Dir     string
	Limits  Limits
}

// Request describes one failed spec.
type Request struct {
	// Spec is the spec's full text; the folder is named after it.
	Spec string
	// Failure is the spec's failure message.
	Failure string
	// Client and Server are the probe's workloads; their pods are found by their pod labels.
	Client, Server fixtures.Workload
	// Namespaces whose policies and events are collected; by default the client's, the server's
	// and the root namespace (mesh-wide policies).
	Namespaces []string
}

func (r Request) namespaces() []string {
	if len(r.Namespaces) > 0 {
		return r.Namespaces
	}
	out := []string{r.Client.Namespace}
	for _, ns := range []string{r.Server.Namespace, scenarios.RootNamespace} {
		if ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// Collect writes one spec's diagnostics and returns its folder. What cannot be collected is
// listed in collection-errors.txt rather than failing the call; the error is for a folder that
// cannot be created, or ErrLimitReached.
func (c *Collector) Collect(ctx context.Context, req Request) (string, error) {
	lim := c.Limits.withDefaults()
	slot, err := c.claim(lim.MaxSpecs)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(c.Dir, fmt.Sprintf("%03d-%s", slot, slug(req.Spec)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("diagnostics: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	w := &specWriter{dir: dir, lim: lim, budget: lim.MaxSpecBytes}

	if strings.TrimSpace(req.Failure) == "" {
		// The failure is what the rest of the folder explains; a caller that lost it is a bug.
		w.fail("failure.txt: the request carries no failure text")
	}
	w.write("failure.txt", keepHead, RedactText([]byte("spec: "+req.Spec+"\n\n"+req.Failure+"\n")))

	type workload struct {
		role string
		fixtures.Workload
		pods []corev1.Pod
	}
	workloads := []*workload{{role: "server", Workload: req.Server}, {role: "client", Workload: req.Client}}
	var podLines []string
	for _, wl := range workloads {
		pods, err := c.pods(ctx, wl.Workload, lim.MaxPodsPerWorkload)
		if err != nil {
			w.fail("%s pods (%s): %v", wl.role, wl.Ref, err)
			continue
		}
		wl.pods = pods
		for i := range pods {
			podLines = append(podLines, wl.role+" "+podLine(&pods[i]))
		}
	}
	w.write("pods.txt", keepHead, []byte(strings.Join(podLines, "\n")+"\n"))
	w.write("policies.yaml", keepHead, c.policies(ctx, req.namespaces(), w))
	for _, ns := range req.namespaces() {
		c.events(ctx, ns, lim.MaxEvents, w)
	}
	// The sidecars' logs and configs first: they explain an mTLS outcome. Both configs: the
	// server's inbound listeners apply PeerAuthentication, the client's outbound clusters apply
	// DestinationRule and auto-mTLS (a DestinationRule 503 is decided client-side). The
	// application logs last, so the size cap drops them first.
	for _, wl := range workloads {
		for i := range wl.pods {
			if hasContainer(&wl.pods[i], mesh.SidecarContainer) {
				c.log(ctx, wl.role, &wl.pods[i], mesh.SidecarContainer, w)
			}
		}
	}
	for _, wl := range workloads {
		for i := range wl.pods {
			if hasContainer(&wl.pods[i], mesh.SidecarContainer) {
				c.configDump(ctx, wl.role, &wl.pods[i], w)
			}
		}
	}
	for _, wl := range workloads {
		for i := range wl.pods {
			for _, name := range containerNames(&wl.pods[i]) {
				if name != mesh.SidecarContainer {
					c.log(ctx, wl.role, &wl.pods[i], name, w)
				}
			}
		}
	}
	if len(w.errs) > 0 {
		// Written past the budget on purpose: it is small and says what is missing and why.
		w.budget += len(strings.Join(w.errs, "\n")) + 1
		w.write("collection-errors.txt", keepHead, RedactText([]byte(strings.Join(w.errs, "\n")+"\n")))
	}
	return dir, nil
}

// claim takes the lowest free numbered slot under Dir/.claims.
func (c *Collector) claim(maxSpecs int) (int, error) {
	claims := filepath.Join(c.Dir, ".claims")
	if err := os.MkdirAll(claims, 0o755); err != nil {
		return 0, fmt.Errorf("diagnostics: %w", err)
	}
	for i := 1; i <= maxSpecs; i++ {
		err := os.Mkdir(filepath.Join(claims, strconv.Itoa(i)), 0o755)
		if err == nil {
			return i, nil
		}
		if !os.IsExist(err) {
			return 0, fmt.Errorf("diagnostics: %w", err)
		}
	}
	return 0, ErrLimitReached
}

// pods returns a workload's newest pods.
func (c *Collector) pods(ctx context.Context, w fixtures.Workload, max int) ([]corev1.Pod, error) {
	if len(w.PodLabels) == 0 {
		return nil, errors.New("the workload has no pod labels to find its pods by")
	}
	pods, err := c.Cluster.Pods(ctx, w.Namespace, w.PodLabels)
	if err != nil {
		return nil, err
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("no pod in %s matches %v", w.Namespace, w.PodLabels)
	}
	pods = slices.Clone(pods) // the Cluster's slice is not ours to reorder
	slices.SortStableFunc(pods, func(a, b corev1.Pod) int {
		return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
	})
	return pods[:min(len(pods), max)], nil
}

func (c *Collector) log(ctx context.Context, role string, pod *corev1.Pod, container string, w *specWriter) {
	name := fmt.Sprintf("%s-%s-%s.log", role, pod.Name, container)
	// Fetch more than a file keeps: the cap applies after redaction, and from the end.
	data, err := c.Cluster.Logs(ctx, pod.Namespace, pod.Name, container, w.lim.LogTailLines, int64(4*w.lim.MaxFileBytes))
	if err != nil {
		w.fail("%s: %v", name, err)
		return
	}
	if len(data) == 0 {
		// Say so, rather than leave an empty file that looks like a failed write. The API server
		// also answers this way for a pod that has not started (no node).
		data = []byte(EmptyLog)
	}
	w.write(name, keepTail, RedactText(data))
}

func (c *Collector) configDump(ctx context.Context, role string, pod *corev1.Pod, w *specWriter) {
	name := fmt.Sprintf("%s-%s-config_dump.json", role, pod.Name)
	stdout, stderr, err := c.Cluster.Exec(ctx, pod.Namespace, pod.Name, mesh.SidecarContainer, mesh.ConfigDumpCommand(false))
	if err != nil {
		if line := firstLine(string(stderr)); line != "" {
			err = fmt.Errorf("%w: %s", err, line)
		}
		w.fail("%s: %v", name, err)
		return
	}
	out, err := RedactJSON(stdout)
	if err != nil {
		// Not JSON (cut short, or an error text): redact as text, and drop every inline secret
		// value of the usual Envoy shapes since the structure cannot be read.
		w.fail("%s: not JSON (%v); redacted as text", name, err)
		out = inlineSecret.ReplaceAll(RedactText(stdout), []byte(`"$1": "`+Redacted+`"`))
	}
	w.write(name, keepHead, out)
}

// inlineSecret is Envoy's JSON for a sensitive DataSource: "private_key": {"inline_bytes": …}.
var inlineSecret = regexp.MustCompile(`"(private_key|password|pkcs12|generic_secret|session_ticket_keys)"\s*:\s*(?:\{[^{}]*\}|\[[^\[\]]*\]|"[^"]*")`)

// policies renders the policy objects of the namespaces as one YAML stream.
func (c *Collector) policies(ctx context.Context, namespaces []string, w *specWriter) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# PeerAuthentication and DestinationRule objects in %s\n", strings.Join(namespaces, ", "))
	n := 0
	for _, ns := range namespaces {
		for _, gvr := range PolicyResources {
			objs, err := c.Cluster.Objects(ctx, gvr, ns)
			if err != nil {
				w.fail("%s in %s: %v", gvr.Resource, ns, err)
				continue
			}
			for i := range objs {
				obj := objs[i].DeepCopy()
				obj.SetManagedFields(nil)
				out, err := yaml.Marshal(RedactValue(obj.Object))
				if err != nil {
					w.fail("%s %s/%s: %v", gvr.Resource, ns, obj.GetName(), err)
					continue
				}
				b.WriteString("---\n")
				b.Write(out)
				n++
			}
		}
	}
	if n == 0 {
		b.WriteString("# none\n")
	}
	return RedactText(b.Bytes())
}

// events writes a namespace's newest events, oldest first, one line each.
func (c *Collector) events(ctx context.Context, ns string, max int, w *specWriter) {
	name := "events-" + ns + ".txt"
	events, err := c.Cluster.Events(ctx, ns)
	if err != nil {
		w.fail("%s: %v", name, err)
		return
	}
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b corev1.Event) int { return eventTime(&a).Compare(eventTime(&b)) })
	if len(events) > max {
		events = events[len(events)-max:]
	}
	var b strings.Builder
	for i := range events {
		e := &events[i]
		fmt.Fprintf(&b, "%s  %-7s  %-20s  %s/%s: %s", eventTime(e).UTC().Format(time.RFC3339), e.Type, e.Reason,
			e.InvolvedObject.Kind, e.InvolvedObject.Name, strings.TrimSpace(e.Message))
		if e.Count > 1 {
			fmt.Fprintf(&b, " (x%d)", e.Count)
		}
		b.WriteString("\n")
	}
	if len(events) == 0 {
		b.WriteString("no events\n")
	}
	w.write(name, keepTail, RedactText([]byte(b.String())))
}

// eventTime is when an event last happened, from whichever field its reporter set.
func eventTime(e *corev1.Event) time.Time {
	for _, t := range []time.Time{e.LastTimestamp.Time, e.EventTime.Time, e.FirstTimestamp.Time} {
		if !t.IsZero() {
			return t
		}
	}
	return e.CreationTimestamp.Time
}

// containerNames lists a pod's containers, native sidecars (init containers that keep
// running) included.
func containerNames(pod *corev1.Pod) []string {
	var out []string
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, c.Name)
		}
	}
	for _, c := range pod.Spec.Containers {
		out = append(out, c.Name)
	}
	return out
}

func hasContainer(pod *corev1.Pod, name string) bool {
	return slices.Contains(containerNames(pod), name)
}

// podLine summarises a pod: phase, node, each container's readiness and restarts, and whether
// Istio's injector marked it.
func podLine(pod *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s phase=%s node=%s created=%s", pod.Namespace, pod.Name, pod.Status.Phase, pod.Spec.NodeName,
		pod.CreationTimestamp.UTC().Format(time.RFC3339))
	statuses := slices.Concat(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses)
	for _, name := range containerNames(pod) {
		i := slices.IndexFunc(statuses, func(s corev1.ContainerStatus) bool { return s.Name == name })
		if i < 0 {
			fmt.Fprintf(&b, " %s=(no status)", name)
			continue
		}
		fmt.Fprintf(&b, " %s=ready:%t,restarts:%d", name, statuses[i].Ready, statuses[i].RestartCount)
	}
	_, injected := pod.Annotations["sidecar.istio.io/status"]
	fmt.Fprintf(&b, " injected=%t", injected)
	return b.String()
}

// specWriter writes one spec's files within the size caps and gathers what went wrong.
type specWriter struct {
	dir    string
	lim    Limits
	budget int
	errs   []string
}

type keep int

const (
	keepHead keep = iota // configs and listings: the start matters
	keepTail             // logs and events: the end, nearest the failure, matters
)

func (w *specWriter) fail(format string, args ...any) {
	w.errs = append(w.errs, fmt.Sprintf(format, args...))
}

// minUseful is the smallest room worth writing a file into.
const minUseful = 1024

func (w *specWriter) write(name string, k keep, data []byte) {
	limit := min(w.lim.MaxFileBytes, w.budget)
	if limit < minUseful && len(data) > limit {
		w.fail("%s: skipped, the spec's size cap (%d bytes) is reached", name, w.lim.MaxSpecBytes)
		return
	}
	data = truncate(data, limit, k)
	if err := os.WriteFile(filepath.Join(w.dir, name), data, 0o644); err != nil {
		w.fail("%s: %v", name, err)
		return
	}
	w.budget -= len(data)
}

// truncate cuts data to at most limit bytes at a line boundary, keeping its head or its tail,
// and says so in a marker line inside the limit.
func truncate(data []byte, limit int, k keep) []byte {
	if len(data) <= limit {
		return data
	}
	const markerRoom = 100 // the marker line below with two 20-digit numbers still fits
	room := max(0, limit-markerRoom)
	var kept []byte
	if k == keepHead {
		kept = data[:room]
		if i := bytes.LastIndexByte(kept, '\n'); i >= 0 {
			kept = kept[:i+1]
		}
	} else {
		kept = data[len(data)-room:]
		if i := bytes.IndexByte(kept, '\n'); i >= 0 {
			kept = kept[i+1:]
		}
	}
	marker := fmt.Sprintf("[truncated by mtls-conformance: %d of %d bytes dropped]\n", len(data)-len(kept), len(data))
	if k == keepTail {
		return append([]byte(marker), kept...)
	}
	out := append([]byte(nil), kept...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, marker...)
}

// slug turns a spec's text into a folder name: lower case letters, digits, dots and dashes.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if len(out) > 80 {
		out = strings.TrimRight(out[:80], "-")
	}
	if out == "" {
		out = "spec"
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
