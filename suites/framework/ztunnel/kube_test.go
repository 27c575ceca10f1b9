package ztunnel

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestFetcherDumps: the ztunnels read are the DaemonSet's own pods (its selector, not a guessed
// label), live, one on each node asked for; each dump is keyed by its node and read from the
// admin port's /config_dump. A node without a ztunnel, a node with two (a rolling update), a
// failed read and a dump that does not parse are errors naming what is wrong.
func TestFetcherDumps(t *testing.T) {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "zt", Namespace: "istio-system"},
		Spec:       appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "ztunnel"}}},
	}
	pod := func(name, node string, labels map[string]string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "istio-system", Labels: labels},
			Spec:       corev1.PodSpec{NodeName: node},
			Status:     corev1.PodStatus{Phase: phase},
		}
	}
	zt := map[string]string{"app": "ztunnel"}
	objects := []*corev1.Pod{
		pod("zt-a", "node-a", zt, corev1.PodRunning),
		pod("zt-b", "node-b", zt, corev1.PodRunning),
		pod("zt-b-old", "node-b", zt, corev1.PodFailed),
		pod("other", "node-a", map[string]string{"app": "other"}, corev1.PodRunning), // not the DaemonSet's
		pod("zt-c1", "node-c", zt, corev1.PodRunning),
		pod("zt-c2", "node-c", zt, corev1.PodRunning), // a rolling update on node-c
	}
	kube := fake.NewClientset(ds)
	for _, p := range objects {
		if _, err := kube.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var gets []string
	dump := `{"workloads": [{"name": "w", "namespace": "n", "protocol": "HBONE"}], "policies": []}`
	f := &Fetcher{kube: kube, get: func(_ context.Context, ns, name string, port int, path string) ([]byte, error) {
		gets = append(gets, ns+"/"+name+":"+path)
		if port != AdminPort {
			t.Errorf("GET on port %d, want %d", port, AdminPort)
		}
		switch name {
		case "zt-bad":
			return nil, errors.New("GET /config_dump on istio-system/zt-bad port 15000: EOF")
		case "zt-garbled":
			return []byte(`{`), nil
		}
		return []byte(dump), nil
	}}
	ctx := context.Background()

	got, err := f.Dumps(ctx, "istio-system", "zt", []string{"node-b", "node-a", "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ByNode) != 2 || got.ByNode["node-a"] == nil || got.ByNode["node-b"] == nil || strings.Join(got.Pods, ",") != "zt-a.istio-system,zt-b.istio-system" {
		t.Errorf("dumps of nodes %v, pods %v", got.ByNode, got.Pods)
	}
	if strings.Join(gets, ",") != "istio-system/zt-b:/config_dump,istio-system/zt-a:/config_dump" {
		t.Errorf("reads: %v", gets)
	}
	for _, c := range []struct {
		nodes []string
		want  string
	}{
		{[]string{"node-c"}, `node "node-c" runs 2 live pods of ztunnel DaemonSet istio-system/zt, want 1`},
		{[]string{"node-d"}, `node "node-d" runs 0 live pods of ztunnel DaemonSet istio-system/zt, want 1`},
	} {
		if _, err := f.Dumps(ctx, "istio-system", "zt", c.nodes); err == nil || err.Error() != c.want {
			t.Errorf("Dumps(%v): %v, want %q", c.nodes, err, c.want)
		}
	}
	if _, err := f.Dumps(ctx, "istio-system", "missing", []string{"node-a"}); err == nil || !strings.HasPrefix(err.Error(), "ztunnel DaemonSet istio-system/missing: ") {
		t.Errorf("no DaemonSet: %v", err)
	}
	for name, want := range map[string]string{
		"zt-bad":     "reading ztunnel's configuration: GET /config_dump on istio-system/zt-bad port 15000: EOF",
		"zt-garbled": "ztunnel istio-system/zt-garbled: ",
	} {
		if _, err := kube.CoreV1().Pods("istio-system").Create(ctx, pod(name, "node-"+name, zt, corev1.PodRunning), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Dumps(ctx, "istio-system", "zt", []string{"node-" + name}); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}
