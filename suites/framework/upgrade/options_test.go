package upgrade

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// Three of kind v0.33.0's images, as versions.yaml pins them.
const (
	node137 = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
	node136 = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed"
	node135 = "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
)

func TestDefaultOptionsAreNMinusOneToN(t *testing.T) {
	o, err := DefaultOptions()
	if err != nil {
		t.Fatal(err)
	}
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	rel := pins.IstioVersions()
	if o.From != rel[1] || o.To != rel[0] || o.Mode != InPlace || o.ErrorBudget != 0 || o.ProbeInterval != DefaultProbeInterval {
		t.Errorf("defaults %+v, want %s → %s in place, budget 0", o, rel[1], rel[0])
	}
	if err := o.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	// Issue 14: N = 1.32, so the default upgrade is 1.31 → 1.32.
	from, _ := versions.ParseIstioVersion(o.From)
	to, _ := versions.ParseIstioVersion(o.To)
	if from.Minor() != "1.31" || to.Minor() != "1.32" {
		t.Errorf("default upgrade %s → %s, want 1.31.x → 1.32.x", o.From, o.To)
	}
}

func TestOptionsFlagsAndEnvironment(t *testing.T) {
	o, _ := DefaultOptions()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.Bind(fs)
	if err := fs.Parse([]string{"--from=1.29.9", "--mode=canary"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"UPGRADE_FROM": "1.30.0", "UPGRADE_TO": "1.30.5", "ERROR_BUDGET": "2", "PROBE_INTERVAL": "250ms"}
	if err := o.Resolve(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	// The explicit flag wins over UPGRADE_FROM; the environment fills the rest.
	if o.From != "1.29.9" || o.To != "1.30.5" || o.Mode != Canary || o.ErrorBudget != 2 || o.ProbeInterval != 250*time.Millisecond {
		t.Errorf("resolved %+v", o)
	}
	if o.Revision() != "1-30-5" {
		t.Errorf("revision %q", o.Revision())
	}
	if err := fs.Parse([]string{"--mode=bluegreen"}); err == nil || !strings.Contains(err.Error(), `upgrade mode "bluegreen": want inplace or canary`) {
		t.Errorf("bad mode: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{From: "1.31.1", To: "1.30.5", Mode: InPlace, ProbeInterval: time.Second}, "--to 1.30.5 is not newer than --from 1.31.1"},
		{Options{From: "1.31.1", To: "1.31.1", Mode: InPlace, ProbeInterval: time.Second}, "--to 1.31.1 is not newer than --from 1.31.1 (the same version upgrades only to another image tag, --to-tag)"},
		{Options{From: "1.31.1", To: "1.30.5", ToTag: "1.30.5-rebuilt", Mode: InPlace, ProbeInterval: time.Second}, "--to 1.30.5 is not newer than --from 1.31.1"},
		{Options{From: "v1.30.5", To: "1.31.1", Mode: InPlace, ProbeInterval: time.Second}, `--from: invalid Istio version "v1.30.5": write 1.30.5 without the leading v`},
		{Options{From: "1.30.5", To: "latest", Mode: InPlace, ProbeInterval: time.Second}, `--to: invalid Istio version "latest"`},
		{Options{From: "1.30.5", To: "1.31.1", Mode: "rolling", ProbeInterval: time.Second}, `upgrade mode "rolling": want inplace or canary`},
		{Options{From: "1.30.5", To: "1.31.1", Mode: Canary, ErrorBudget: -1, ProbeInterval: time.Second}, "error-budget must not be negative"},
		{Options{From: "1.30.5", To: "1.31.1", Mode: Canary}, "probe-interval must be positive"},
	} {
		err := tc.o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want one line containing %q", tc.o, err, tc.want)
		}
	}
}

// The same version under another image tag is an upgrade (a rebuild, as the local kind tier's
// second tag of its one istiod); without a tag it is not.
func TestOptionsSameVersionOtherTag(t *testing.T) {
	o := Options{From: "1.31.0", To: "1.31.0", ToTag: "1.31.0-upgrade", Mode: Canary, ProbeInterval: time.Second}
	if err := o.Validate(); err != nil {
		t.Errorf("%+v: %v", o, err)
	}
}

func TestRevisionFor(t *testing.T) {
	if RevisionFor("1.31.0-rc.4") != "1-31-0-rc-4" {
		t.Errorf("RevisionFor(1.31.0-rc.4) = %s", RevisionFor("1.31.0-rc.4"))
	}
}

func TestTagMatches(t *testing.T) {
	for _, tc := range []struct {
		image, tag string
		want       bool
	}{
		{"docker.io/istio/proxyv2:1.31.1", "1.31.1", true},
		{"docker.io/istio/proxyv2:1.31.1-distroless", "1.31.1", true},
		{"gcr.io/istio-release/proxyv2:1.31.1-debug", "1.31.1", true},
		{"registry.local:5000/istio/proxyv2:1.31.1", "1.31.1", true},
		{"docker.io/istio/proxyv2:1.31.1@sha256:abc", "1.31.1", true},
		{"docker.io/istio/proxyv2:1.30.5", "1.31.1", false},
		{"docker.io/istio/proxyv2:1.31.10", "1.31.1", false},
		{"docker.io/istio/proxyv2:1.31.1-rc.4", "1.31.1", false},
		{"registry.local:5000/istio/proxyv2", "5000", false},
		{"proxyv2", "1.31.1", false},
	} {
		if got := TagMatches(tc.image, tc.tag); got != tc.want {
			t.Errorf("TagMatches(%s, %s) = %t", tc.image, tc.tag, got)
		}
	}
}

func managedNamespace(name string, labels map[string]string) *corev1.Namespace {
	l := map[string]string{mesh.ManagedByLabel: mesh.ManagedByValue}
	for k, v := range labels {
		l[k] = v
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func pod(name string, rev, proxyImage string, native, terminating bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "foo", Labels: map[string]string{mesh.ManagedByLabel: mesh.ManagedByValue}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "httpbin", Image: "docker.io/mccutchen/go-httpbin:v2.15.0"}}},
	}
	if rev != "" {
		p.Annotations = map[string]string{mesh.RevisionLabel: rev}
	}
	if terminating {
		now := metav1.Now()
		p.DeletionTimestamp = &now
		p.Finalizers = []string{"test/keep"}
	}
	if proxyImage != "" {
		proxy := corev1.Container{Name: mesh.SidecarContainer, Image: proxyImage}
		if native {
			always := corev1.ContainerRestartPolicyAlways
			proxy.RestartPolicy = &always
			p.Spec.InitContainers = append(p.Spec.InitContainers, proxy)
		} else {
			p.Spec.Containers = append(p.Spec.Containers, proxy)
		}
	}
	return p
}

func TestExpectSidecars(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset(
		pod("httpbin-new", "1-31-1", "docker.io/istio/proxyv2:1.31.1", false, false),
		pod("sleep-new", "1-31-1", "docker.io/istio/proxyv2:1.31.1-distroless", true, false),
		pod("httpbin-old", "default", "docker.io/istio/proxyv2:1.30.5", false, true), // terminating: not current
	)
	if err := ExpectSidecars(ctx, kube, "foo", SidecarWant{Revision: "1-31-1", Tag: "1.31.1"}); err != nil {
		t.Errorf("new sidecars: %v", err)
	}
	err := ExpectSidecars(ctx, kube, "foo", SidecarWant{Revision: "default", Tag: "1.30.5"})
	want := `namespace foo: want sidecars with tag 1.30.5 from revision "default", but httpbin-new runs docker.io/istio/proxyv2:1.31.1 from revision "1-31-1"; sleep-new runs docker.io/istio/proxyv2:1.31.1-distroless from revision "1-31-1"`
	if err == nil || err.Error() != want {
		t.Errorf("old sidecars wanted:\n got %v\nwant %s", err, want)
	}
	// Same image, wrong revision: the pod was injected by another control plane.
	if err := ExpectSidecars(ctx, kube, "foo", SidecarWant{Revision: "default", Tag: "1.31.1"}); err == nil {
		t.Error("revision mismatch passed")
	}
	if _, err := kube.CoreV1().Pods("foo").Create(ctx, pod("no-proxy", "", "", false, false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ExpectSidecars(ctx, kube, "foo", SidecarWant{Revision: "1-31-1", Tag: "1.31.1"}); err == nil || !strings.Contains(err.Error(), "no-proxy has no istio-proxy") {
		t.Errorf("pod without sidecar: %v", err)
	}
	if err := ExpectSidecars(ctx, kube, "bar", SidecarWant{Revision: "1-31-1", Tag: "1.31.1"}); err == nil || err.Error() != "namespace bar has no pods managed by mtls-conformance" {
		t.Errorf("empty namespace: %v", err)
	}
}

func TestMoveNamespaces(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset(
		managedNamespace("foo", map[string]string{mesh.InjectionLabel: "enabled"}),
		managedNamespace("bar", map[string]string{mesh.InjectionLabel: "enabled"}),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Labels: map[string]string{mesh.InjectionLabel: "enabled"}}},
	)
	if err := MoveNamespaces(ctx, kube, []string{"foo", "bar"}, "1-31-1"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"foo", "bar"} {
		ns, err := kube.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, has := ns.Labels[mesh.InjectionLabel]; has || ns.Labels[mesh.RevisionLabel] != "1-31-1" || ns.Labels[mesh.ManagedByLabel] != mesh.ManagedByValue {
			t.Errorf("%s labels %v", name, ns.Labels)
		}
		// What Istio's webhooks now select: the canary's, not the default one's.
		if !deploy.Injected(ns.Labels, nil, []string{"1-31-1"}) || deploy.Injected(ns.Labels, nil, []string{"default"}) {
			t.Errorf("%s: injection after the move follows the wrong revision", name)
		}
	}
	err := MoveNamespaces(ctx, kube, []string{"theirs"}, "1-31-1")
	if err == nil || err.Error() != "namespace theirs is not managed by mtls-conformance; not relabelling it" {
		t.Errorf("unmanaged namespace: %v", err)
	}
	if ns, _ := kube.CoreV1().Namespaces().Get(ctx, "theirs", metav1.GetOptions{}); ns.Labels[mesh.InjectionLabel] != "enabled" {
		t.Errorf("unmanaged namespace was changed: %v", ns.Labels)
	}
}

func TestWritePhaseResults(t *testing.T) {
	runDir := filepath.Join(t.TempDir(), "20261123T080000Z-abcdef")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	rec := func(step string, from fixtures.Ref, v report.Verdict) report.ProbeRecord {
		return report.ProbeRecord{Scenario: "namespace-strict", Step: step, From: from, To: fixtures.Ref{Name: "httpbin", Namespace: "foo"}, Port: 8000,
			Expected: scenarios.Outcome{ExitCode: 56}, Observed: &report.Observed{ExitCode: 56}, Verdict: v, Time: at}
	}
	recs := []report.ProbeRecord{
		rec("foo STRICT", fixtures.Ref{Name: "sleep", Namespace: "legacy"}, report.VerdictPass),
		rec("foo STRICT", fixtures.Ref{Name: "curl", Namespace: "utilities"}, report.VerdictPass),
	}
	env := report.Environment{IstioVersion: "1.30.5+1.31.1", ClusterMode: "kind"}
	dir, err := WritePhaseResults(runDir, "3-cross-revision", env, recs)
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(runDir, PhasesDir, "3-cross-revision") {
		t.Errorf("dir %s", dir)
	}
	got, err := report.ReadResults(filepath.Join(dir, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if got.Header.RunID != "20261123T080000Z-abcdef" || got.Header.IstioVersion != "1.30.5+1.31.1" || !got.Header.Started.Equal(at) || len(got.Probes) != 2 || got.Probes[0].Scenario != "namespace-strict" {
		t.Errorf("phase results %+v", got)
	}
	// A record twice is what ReadResults rejects, so writing it fails instead of leaving a file
	// diff cannot read.
	if _, err := WritePhaseResults(runDir, "4-new-sidecars", env, append(recs, recs[0])); err == nil || !strings.Contains(err.Error(), "is recorded twice") {
		t.Errorf("duplicate record: %v", err)
	}
	if _, err := WritePhaseResults(runDir, "../escape", env, recs); err == nil {
		t.Error("phase id with a path accepted")
	}
}
