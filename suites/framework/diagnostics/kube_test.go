package diagnostics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

func TestKubeClusterPodsLogsEvents(t *testing.T) {
	server := pod("foo", "httpbin-1", httpbin.PodLabels, base, true, false)
	other := pod("foo", "httpbin-v2-1", map[string]string{"app": "httpbin", "version": "v2"}, base, true, false)
	event := corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "foo"}, Reason: "Pulled"}
	client := fake.NewClientset(&server, &other, &event)
	k := &KubeCluster{Client: client}
	ctx := context.Background()

	pods, err := k.Pods(ctx, "foo", httpbin.PodLabels)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 1 || pods[0].Name != "httpbin-1" {
		t.Fatalf("pods %v: the selector app=httpbin,version=v1 must pick httpbin-1 only", pods)
	}

	logs, err := k.Logs(ctx, "foo", "httpbin-1", "istio-proxy", 2000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if string(logs) != "fake logs" { // what client-go's fake GetLogs serves
		t.Fatalf("logs %q", logs)
	}
	i := slices.IndexFunc(client.Actions(), func(a k8stesting.Action) bool { return a.GetSubresource() == "log" })
	if i < 0 {
		t.Fatal("no log request")
	}
	opts := client.Actions()[i].(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions)
	if opts.Container != "istio-proxy" || opts.TailLines == nil || *opts.TailLines != 2000 || opts.LimitBytes == nil || *opts.LimitBytes != 1<<20 {
		t.Fatalf("log options %+v", opts)
	}

	events, err := k.Events(ctx, "foo")
	if err != nil || len(events) != 1 || events[0].Reason != "Pulled" {
		t.Fatalf("events %v %v", events, err)
	}
}

func TestKubeClusterObjects(t *testing.T) {
	pa := strictFoo()
	dr := unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
		"metadata": map[string]any{"name": "httpbin-legacy", "namespace": "foo"},
		"spec":     map[string]any{"host": "httpbin.legacy.svc.cluster.local", "trafficPolicy": map[string]any{"tls": map[string]any{"mode": "ISTIO_MUTUAL"}}},
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		PolicyResources[0]: "PeerAuthenticationList",
		PolicyResources[1]: "DestinationRuleList",
	}, &pa, &dr)
	k := &KubeCluster{Dynamic: dyn}
	for i, want := range []string{"default", "httpbin-legacy"} {
		objs, err := k.Objects(context.Background(), PolicyResources[i], "foo")
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 1 || objs[0].GetName() != want {
			t.Fatalf("%s: %v", PolicyResources[i].Resource, objs)
		}
	}
}

// Exec goes to pods/exec with the config_dump command in istio-proxy, over WebSocket first and
// SPDY when the upgrade is refused, as kubectl does. The server refuses both, like an API server
// whose RBAC forbids pods/exec.
func TestKubeClusterExecFallsBackToSPDY(t *testing.T) {
	var mu sync.Mutex
	var requests []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.Method+" "+r.URL.Path+" container="+r.URL.Query().Get("container")+" command="+strings.Join(r.URL.Query()["command"], " "))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"httpbin-1\" is forbidden: User \"ci\" cannot create resource \"pods/exec\"","reason":"Forbidden","code":403}`))
	}))
	defer api.Close()
	k, err := NewKubeCluster(&rest.Config{Host: api.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = k.Exec(context.Background(), "foo", "httpbin-1", mesh.SidecarContainer, mesh.ConfigDumpCommand(false))
	if err == nil || !strings.Contains(err.Error(), "exec in foo/httpbin-1 container \"istio-proxy\"") {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"GET /api/v1/namespaces/foo/pods/httpbin-1/exec container=istio-proxy command=pilot-agent request GET config_dump",
		"POST /api/v1/namespaces/foo/pods/httpbin-1/exec container=istio-proxy command=pilot-agent request GET config_dump",
	}
	if !slices.Equal(requests, want) {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(requests, "\n"), strings.Join(want, "\n"))
	}
}

func TestCappedBuffer(t *testing.T) {
	b := &cappedBuffer{max: 5}
	for _, p := range []string{"abc", "def", "ghi"} {
		if n, err := b.Write([]byte(p)); n != 3 || err != nil {
			t.Fatalf("Write = %d, %v; must accept everything so the stream keeps flowing", n, err)
		}
	}
	if string(b.Bytes()) != "abcde" {
		t.Fatalf("kept %q", b.Bytes())
	}
}
