package diagnostics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// fakeCluster serves canned pods, logs, exec output, events and objects, and records calls.
type fakeCluster struct {
	mu      sync.Mutex
	pods    map[string][]corev1.Pod // by namespace
	logs    map[string][]byte       // by "ns/pod/container"
	exec    func(ns, pod, container string, argv []string) ([]byte, []byte, error)
	events  map[string][]corev1.Event
	objects map[string][]unstructured.Unstructured // by "resource/ns"
	podsErr map[string]error
	calls   []string
}

func (f *fakeCluster) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeCluster) Pods(_ context.Context, ns string, selector map[string]string) ([]corev1.Pod, error) {
	f.record("pods " + ns)
	if err := f.podsErr[ns]; err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range f.pods[ns] {
		match := true
		for k, v := range selector {
			if p.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeCluster) Logs(_ context.Context, ns, pod, container string, tail, limit int64) ([]byte, error) {
	f.record(fmt.Sprintf("logs %s/%s/%s tail=%d limit=%d", ns, pod, container, tail, limit))
	data, ok := f.logs[ns+"/"+pod+"/"+container]
	if !ok {
		return nil, fmt.Errorf("container %q in pod %q is waiting to start", container, pod)
	}
	return data, nil
}

func (f *fakeCluster) Exec(_ context.Context, ns, pod, container string, argv []string) ([]byte, []byte, error) {
	f.record(fmt.Sprintf("exec %s/%s/%s %s", ns, pod, container, strings.Join(argv, " ")))
	return f.exec(ns, pod, container, argv)
}

func (f *fakeCluster) Events(_ context.Context, ns string) ([]corev1.Event, error) {
	f.record("events " + ns)
	return f.events[ns], nil
}

func (f *fakeCluster) Objects(_ context.Context, gvr schema.GroupVersionResource, ns string) ([]unstructured.Unstructured, error) {
	f.record("objects " + gvr.Resource + " " + ns)
	return f.objects[gvr.Resource+"/"+ns], nil
}

var (
	base    = time.Date(2026, 11, 5, 10, 15, 0, 0, time.UTC)
	always  = corev1.ContainerRestartPolicyAlways
	sleepWL = fixtures.Workload{Ref: fixtures.Ref{Name: "sleep", Namespace: "legacy"}, PodLabels: map[string]string{"app": "sleep"}}
	httpbin = fixtures.Workload{Ref: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, PodLabels: map[string]string{"app": "httpbin", "version": "v1"}}
)

func pod(ns, name string, labels map[string]string, created time.Time, sidecar, native bool) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, CreationTimestamp: metav1.NewTime(created)},
		Spec:       corev1.PodSpec{NodeName: "mtls-conformance-control-plane", Containers: []corev1.Container{{Name: labels["app"]}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: labels["app"], Ready: true}}},
	}
	if sidecar {
		p.Annotations = map[string]string{"sidecar.istio.io/status": `{"containers":["istio-proxy"]}`}
		if native {
			p.Spec.InitContainers = []corev1.Container{{Name: "istio-init"}, {Name: "istio-proxy", RestartPolicy: &always}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "istio-proxy", Ready: true, RestartCount: 1}}
		} else {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy"})
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "istio-proxy", Ready: true})
		}
	}
	return p
}

func strictFoo() unstructured.Unstructured {
	return unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
		"metadata": map[string]any{
			"name": "default", "namespace": "foo",
			"labels":        map[string]any{"app.kubernetes.io/managed-by": "mtls-conformance"},
			"managedFields": []any{map[string]any{"manager": "mtls-conformance", "operation": "Apply"}},
		},
		"spec": map[string]any{"mtls": map[string]any{"mode": "STRICT"}},
	}}
}

// newFake is the scene of a failed probe sleep.legacy → httpbin.foo:8000: a sidecar-less client,
// a server with a native-sidecar istio-proxy (old and new pod during a restart), STRICT in foo.
func newFake(t *testing.T) (*fakeCluster, []byte) {
	dump, _, keyPEM := configDump(t)
	old := pod("foo", "httpbin-7b8f9c6d5-old", httpbin.PodLabels, base, true, true)
	newer := pod("foo", "httpbin-7b8f9c6d5-new", httpbin.PodLabels, base.Add(time.Minute), true, true)
	oldest := pod("foo", "httpbin-7b8f9c6d5-gone", httpbin.PodLabels, base.Add(-time.Hour), true, true)
	var events []corev1.Event
	for i := range 5 {
		events = append(events, corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("e%d", i), Namespace: "foo"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "httpbin-7b8f9c6d5-new"},
			Type:           "Normal", Reason: fmt.Sprintf("Reason%d", i), Message: fmt.Sprintf("event %d", i),
			// Out of order on purpose; event 4 also carries a token in its message.
			LastTimestamp: metav1.NewTime(base.Add(time.Duration((i*3)%5) * time.Second)),
		})
	}
	events[4].Message = "pulled with token=" + saToken
	events[4].Count = 3
	return &fakeCluster{
		pods: map[string][]corev1.Pod{
			"foo":    {old, oldest, newer},
			"legacy": {pod("legacy", "sleep-5d8f7b9c4-x1", sleepWL.PodLabels, base, false, false)},
		},
		logs: map[string][]byte{
			"foo/httpbin-7b8f9c6d5-new/istio-proxy": []byte("[2026-11-05T10:15:03Z] \"- - -\" 0 NR filter_chain_not_found - \"-\" 0 0 0 - \"-\"\n" +
				"'authorization', 'Bearer " + saToken + "'\n"),
			"foo/httpbin-7b8f9c6d5-new/httpbin":     []byte("go-httpbin listening on http://0.0.0.0:8080\n"),
			"foo/httpbin-7b8f9c6d5-old/istio-proxy": []byte("draining listeners\n"),
			"foo/httpbin-7b8f9c6d5-old/httpbin":     []byte("go-httpbin listening on http://0.0.0.0:8080\n"),
			"legacy/sleep-5d8f7b9c4-x1/sleep":       []byte("sleeping\n" + string(keyPEM)),
		},
		exec: func(ns, pod, container string, argv []string) ([]byte, []byte, error) {
			return dump, nil, nil
		},
		events:  map[string][]corev1.Event{"foo": events},
		objects: map[string][]unstructured.Unstructured{"peerauthentications/foo": {strictFoo()}},
	}, keyPEM
}

func request() Request {
	return Request{
		Spec:    "namespace-strict sleep.legacy → httpbin.foo:8000 is reset (exit 56)",
		Failure: "sleep.legacy → httpbin.foo:8000 did not converge within 2m0s\n  expected: exit 56, HTTP 000\n  observed: exit 0, HTTP 200",
		Client:  sleepWL,
		Server:  httpbin,
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

func TestCollectWritesEverythingRedacted(t *testing.T) {
	cluster, keyPEM := newFake(t)
	c := &Collector{Cluster: cluster, Dir: t.TempDir(), Limits: Limits{MaxEvents: 3}}
	dir, err := c.Collect(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "001-namespace-strict-sleep.legacy-httpbin.foo-8000-is-reset-exit-56" {
		t.Fatalf("folder %s", filepath.Base(dir))
	}
	files := readDir(t, dir)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{
		"client-sleep-5d8f7b9c4-x1-sleep.log",
		"events-foo.txt", "events-istio-system.txt", "events-legacy.txt",
		"failure.txt", "pods.txt", "policies.yaml",
		"server-httpbin-7b8f9c6d5-new-config_dump.json",
		"server-httpbin-7b8f9c6d5-new-httpbin.log",
		"server-httpbin-7b8f9c6d5-new-istio-proxy.log",
		"server-httpbin-7b8f9c6d5-old-config_dump.json",
		"server-httpbin-7b8f9c6d5-old-httpbin.log",
		"server-httpbin-7b8f9c6d5-old-istio-proxy.log",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("files:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	// The pod from an hour earlier is past MaxPodsPerWorkload (2, newest first).
	for _, call := range cluster.calls {
		if strings.Contains(call, "httpbin-7b8f9c6d5-gone") {
			t.Errorf("collected the third-newest pod: %s", call)
		}
	}
	// No secret anywhere.
	for name, content := range files {
		for _, leak := range []string{saToken, keyBody(keyPEM)[:24], "hunter2"} {
			if strings.Contains(content, leak) {
				t.Errorf("%s leaks %.24q", name, leak)
			}
		}
	}
	if got := files["failure.txt"]; got != "spec: namespace-strict sleep.legacy → httpbin.foo:8000 is reset (exit 56)\n\nsleep.legacy → httpbin.foo:8000 did not converge within 2m0s\n  expected: exit 56, HTTP 000\n  observed: exit 0, HTTP 200\n" {
		t.Errorf("failure.txt = %q", got)
	}
	dump := files["server-httpbin-7b8f9c6d5-new-config_dump.json"]
	if !strings.Contains(dump, `"private_key": "[REDACTED]"`) || !strings.Contains(dump, `"require_client_certificate": true`) {
		t.Errorf("config_dump not redacted or lost its content:\n%.400s", dump)
	}
	if !slices.Contains(cluster.calls, "exec foo/httpbin-7b8f9c6d5-new/istio-proxy pilot-agent request GET config_dump") {
		t.Errorf("config_dump not fetched through pilot-agent in istio-proxy: %v", cluster.calls)
	}
	for _, call := range cluster.calls {
		if strings.HasPrefix(call, "exec legacy/") {
			t.Errorf("the client has no sidecar and no config_dump to fetch: %s", call)
		}
	}
	if got := files["server-httpbin-7b8f9c6d5-new-istio-proxy.log"]; !strings.Contains(got, "filter_chain_not_found") || !strings.Contains(got, "'authorization', 'Bearer [REDACTED]'") {
		t.Errorf("istio-proxy log = %q", got)
	}
	if got := files["client-sleep-5d8f7b9c4-x1-sleep.log"]; got != "sleeping\n"+RedactedPrivateKey+"\n" {
		t.Errorf("client log = %q", got)
	}
	policies := files["policies.yaml"]
	if !strings.HasPrefix(policies, "# PeerAuthentication and DestinationRule objects in legacy, foo, istio-system\n---\n") ||
		!strings.Contains(policies, "kind: PeerAuthentication") || !strings.Contains(policies, "mode: STRICT") ||
		strings.Contains(policies, "managedFields") {
		t.Errorf("policies.yaml:\n%s", policies)
	}
	// The newest three events, oldest first, redacted.
	wantEvents := "2026-11-05T10:15:02Z  Normal   Reason4               Pod/httpbin-7b8f9c6d5-new: pulled with token=[REDACTED] (x3)\n" +
		"2026-11-05T10:15:03Z  Normal   Reason1               Pod/httpbin-7b8f9c6d5-new: event 1\n" +
		"2026-11-05T10:15:04Z  Normal   Reason3               Pod/httpbin-7b8f9c6d5-new: event 3\n"
	if got := files["events-foo.txt"]; got != wantEvents {
		t.Errorf("events-foo.txt:\n%s\nwant:\n%s", got, wantEvents)
	}
	if files["events-legacy.txt"] != "no events\n" {
		t.Errorf("events-legacy.txt = %q", files["events-legacy.txt"])
	}
	if pods := files["pods.txt"]; !strings.Contains(pods, "server foo/httpbin-7b8f9c6d5-new phase=Running node=mtls-conformance-control-plane created=2026-11-05T10:16:00Z istio-proxy=ready:true,restarts:1 httpbin=ready:true,restarts:0 injected=true\n") ||
		!strings.Contains(pods, "client legacy/sleep-5d8f7b9c4-x1 phase=Running node=mtls-conformance-control-plane created=2026-11-05T10:15:00Z sleep=ready:true,restarts:0 injected=false") {
		t.Errorf("pods.txt:\n%s", pods)
	}
	for _, call := range cluster.calls {
		if strings.HasPrefix(call, "logs ") && !strings.HasSuffix(call, fmt.Sprintf("tail=%d limit=%d", DefaultLogTailLines, 4*DefaultMaxFileBytes)) {
			t.Errorf("log request without the caps: %s", call)
		}
	}
}

// TestCollectBothSidecarsConfigDumps: a DestinationRule's outcome (ISTIO_MUTUAL to a server
// without sidecar: 503; DISABLE into STRICT) is decided by the client's sidecar, so a failed
// probe from a client with a sidecar needs the client's config dump as well as the server's.
func TestCollectBothSidecarsConfigDumps(t *testing.T) {
	cluster, keyPEM := newFake(t)
	sleepFoo := fixtures.Workload{Ref: fixtures.Ref{Name: "sleep", Namespace: "foo"}, PodLabels: map[string]string{"app": "sleep"}}
	cluster.pods["foo"] = append(cluster.pods["foo"], pod("foo", "sleep-6c9d8f7b5-y2", sleepFoo.PodLabels, base, true, false))
	cluster.logs["foo/sleep-6c9d8f7b5-y2/istio-proxy"] = []byte("[2026-11-05T10:15:03Z] \"GET /headers HTTP/1.1\" 503 UF upstream_reset_before_response_started\n")
	cluster.logs["foo/sleep-6c9d8f7b5-y2/sleep"] = []byte("sleeping\n")
	req := request()
	req.Spec = "dr-istio-mutual-no-sidecar sleep.foo → httpbin.foo:8000 answers 503"
	req.Client = sleepFoo
	c := &Collector{Cluster: cluster, Dir: t.TempDir()}
	dir, err := c.Collect(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	files := readDir(t, dir)
	for _, name := range []string{"client-sleep-6c9d8f7b5-y2-config_dump.json", "server-httpbin-7b8f9c6d5-new-config_dump.json"} {
		dump, ok := files[name]
		if !ok {
			t.Errorf("no %s", name)
			continue
		}
		if strings.Contains(dump, keyBody(keyPEM)[:24]) || !strings.Contains(dump, `"private_key": "[REDACTED]"`) {
			t.Errorf("%s not redacted:\n%.400s", name, dump)
		}
	}
	if !slices.Contains(cluster.calls, "exec foo/sleep-6c9d8f7b5-y2/istio-proxy pilot-agent request GET config_dump") {
		t.Errorf("the client's config_dump not fetched through pilot-agent in its istio-proxy: %v", cluster.calls)
	}
	if _, ok := files["client-sleep-6c9d8f7b5-y2-istio-proxy.log"]; !ok {
		t.Error("the client's istio-proxy log is missing")
	}
	if errs, ok := files["collection-errors.txt"]; ok {
		t.Errorf("collection errors:\n%s", errs)
	}
}

func TestCollectSaysWhenTheFailureIsMissing(t *testing.T) {
	cluster, _ := newFake(t)
	req := request()
	req.Failure = ""
	dir, err := (&Collector{Cluster: cluster, Dir: t.TempDir()}).Collect(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if errs := readDir(t, dir)["collection-errors.txt"]; !strings.Contains(errs, "failure.txt: the request carries no failure text") {
		t.Fatalf("collection-errors.txt:\n%s", errs)
	}
}

func TestCollectSpecCountCap(t *testing.T) {
	cluster, _ := newFake(t)
	c := &Collector{Cluster: cluster, Dir: t.TempDir(), Limits: Limits{MaxSpecs: 3}}
	var wg sync.WaitGroup
	results := make(chan error, 7)
	dirs := make(chan string, 7)
	for range 7 {
		wg.Go(func() {
			dir, err := c.Collect(context.Background(), request())
			results <- err
			dirs <- dir
		})
	}
	wg.Wait()
	close(results)
	close(dirs)
	ok, capped := 0, 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrLimitReached):
			capped++
		default:
			t.Fatal(err)
		}
	}
	if ok != 3 || capped != 4 {
		t.Fatalf("%d collected, %d capped; want 3 and 4", ok, capped)
	}
	var prefixes []string
	for d := range dirs {
		if d != "" {
			prefixes = append(prefixes, filepath.Base(d)[:4])
		}
	}
	slices.Sort(prefixes)
	if !slices.Equal(prefixes, []string{"001-", "002-", "003-"}) {
		t.Fatalf("folders %v, want one per slot", prefixes)
	}
}

func TestCollectFileSizeCapKeepsTheEndOfLogs(t *testing.T) {
	cluster, _ := newFake(t)
	var log strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&log, "[2026-11-05T10:15:03Z] line %05d of the sidecar's access log\n", i)
	}
	cluster.logs["foo/httpbin-7b8f9c6d5-new/istio-proxy"] = []byte(log.String())
	c := &Collector{Cluster: cluster, Dir: t.TempDir(), Limits: Limits{MaxFileBytes: 4 << 10}}
	dir, err := c.Collect(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	files := readDir(t, dir)
	got := files["server-httpbin-7b8f9c6d5-new-istio-proxy.log"]
	if len(got) > 4<<10 || len(got) < 3<<10 {
		t.Fatalf("log is %d bytes, cap %d", len(got), 4<<10)
	}
	if !strings.HasPrefix(got, "[truncated by mtls-conformance: ") || !strings.HasSuffix(got, "line 04999 of the sidecar's access log\n") {
		t.Fatalf("want the marker first and the last line kept:\n%.200s … %s", got, got[len(got)-80:])
	}
	// Whole lines only after the marker.
	if second := strings.SplitN(got, "\n", 3)[1]; !strings.HasPrefix(second, "[2026-11-05T10:15:03Z] line ") {
		t.Fatalf("first kept line is cut: %q", second)
	}
	// The config dump is larger than 4 KiB too: its start is kept.
	dump := files["server-httpbin-7b8f9c6d5-new-config_dump.json"]
	if len(dump) > 4<<10 || !strings.HasPrefix(dump, "{\n  \"configs\": [") || !strings.Contains(dump, "[truncated by mtls-conformance: ") {
		t.Fatalf("config dump %d bytes:\n%.200s", len(dump), dump)
	}
	for name, content := range files {
		if len(content) > 4<<10 {
			t.Errorf("%s is %d bytes", name, len(content))
		}
	}
}

func TestCollectSpecSizeCapSkipsLaterFiles(t *testing.T) {
	cluster, _ := newFake(t)
	big := strings.Repeat("x", 3000) + "\n"
	for k := range cluster.logs {
		cluster.logs[k] = []byte(strings.Repeat(big, 10))
	}
	lim := Limits{MaxFileBytes: 16 << 10, MaxSpecBytes: 40 << 10}
	c := &Collector{Cluster: cluster, Dir: t.TempDir(), Limits: lim}
	dir, err := c.Collect(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	files := readDir(t, dir)
	total := 0
	for name, content := range files {
		if name != "collection-errors.txt" {
			total += len(content)
		}
	}
	if total > lim.MaxSpecBytes {
		t.Fatalf("spec folder holds %d bytes, cap %d", total, lim.MaxSpecBytes)
	}
	errs := files["collection-errors.txt"]
	if !strings.Contains(errs, "skipped, the spec's size cap (40960 bytes) is reached") {
		t.Fatalf("collection-errors.txt does not list what the cap dropped:\n%s", errs)
	}
	// Priority: the sidecar logs and the config dump came before the application logs.
	if _, ok := files["server-httpbin-7b8f9c6d5-new-istio-proxy.log"]; !ok {
		t.Error("the server's istio-proxy log must be kept before application logs")
	}
	if _, ok := files["client-sleep-5d8f7b9c4-x1-sleep.log"]; ok {
		t.Error("the last application log should have been dropped by the spec cap")
	}
}

func TestCollectRecordsErrorsAndContinues(t *testing.T) {
	cluster, _ := newFake(t)
	cluster.podsErr = map[string]error{"legacy": errors.New(`pods is forbidden: User "ci" cannot list resource "pods" in namespace "legacy"`)}
	_, _, keyPEM := configDump(t)
	truncated := []byte(`{"configs": [{"dynamic_active_secrets": [{"secret": {"tls_certificate": {"private_key": {"inline_bytes": "` + b64(keyPEM) + `"}, "certificate_chain": {"inline_bytes": "QUJD"}}}}, {"secret": {"name": "ROO`)
	cluster.exec = func(ns, pod, container string, argv []string) ([]byte, []byte, error) {
		if pod == "httpbin-7b8f9c6d5-old" {
			return nil, []byte("error: container istio-proxy is terminating\n"), errors.New("command terminated with exit code 1")
		}
		return truncated, nil, nil
	}
	c := &Collector{Cluster: cluster, Dir: t.TempDir()}
	dir, err := c.Collect(context.Background(), request())
	if err != nil {
		t.Fatal(err)
	}
	files := readDir(t, dir)
	errs := files["collection-errors.txt"]
	for _, want := range []string{
		`client pods (sleep.legacy): pods is forbidden: User "ci" cannot list resource "pods" in namespace "legacy"`,
		"server-httpbin-7b8f9c6d5-old-config_dump.json: command terminated with exit code 1: error: container istio-proxy is terminating",
		"server-httpbin-7b8f9c6d5-new-config_dump.json: not JSON (unexpected EOF); redacted as text",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("collection-errors.txt lacks %q:\n%s", want, errs)
		}
	}
	dump := files["server-httpbin-7b8f9c6d5-new-config_dump.json"]
	if strings.Contains(dump, b64(keyPEM)[:24]) || !strings.Contains(dump, `"private_key": "[REDACTED]"`) || !strings.Contains(dump, `"certificate_chain": {"inline_bytes": "QUJD"}`) {
		t.Errorf("cut config_dump:\n%s", dump)
	}
	// The server side was still collected.
	if _, ok := files["server-httpbin-7b8f9c6d5-new-istio-proxy.log"]; !ok {
		t.Error("a client-side error must not stop the server side")
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"namespace-strict sleep.legacy → httpbin.foo:8000 is reset (exit 56)":                                                           "namespace-strict-sleep.legacy-httpbin.foo-8000-is-reset-exit-56",
		"[It] dr-port-level sleep.foo → httpbin.legacy:9080 succeeds over mTLS (By=spiffe://cluster.local/ns/legacy/sa/httpbin, URI=…)": "it-dr-port-level-sleep.foo-httpbin.legacy-9080-succeeds-over-mtls-by-spiffe-clus",
		"→→→": "spec",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}
