package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// RestartedAtAnnotation is what `kubectl rollout restart` sets on the pod template; pods carry
// their template's annotations, which tells the restarted pods from the old ones.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// SetupError is a readiness failure that waiting cannot fix (a pod without the sidecar its
// namespace asks for): the run's setup is wrong.
type SetupError struct{ Msg string }

func (e *SetupError) Error() string { return e.Msg }

// Injected decides whether Istio's injector acts on a pod created now, from its namespace's and
// its own labels, following the webhooks of the default revision and of revision rev
// (mutatingwebhook.yaml): istio-injection=enabled injects unless the pod says
// sidecar.istio.io/inject=false; any other istio-injection value disables injection; without
// that label, a namespace istio.io/rev naming an installed revision injects; with neither, only
// a pod labelled sidecar.istio.io/inject=true (default revision) or istio.io/rev=<installed
// revision> is injected. installed lists the revisions running ("default" for an unrevisioned
// istiod); nil means just the default one.
func Injected(nsLabels, podLabels map[string]string, installed []string) bool {
	if len(installed) == 0 {
		installed = []string{"default"}
	}
	has := func(rev string) bool {
		for _, r := range installed {
			if r == rev {
				return true
			}
		}
		return false
	}
	optOut := podLabels[mesh.PodInjectionLabel] == "false"
	if v, ok := nsLabels[mesh.InjectionLabel]; ok {
		return v == "enabled" && !optOut && has("default")
	}
	if rev, ok := nsLabels[mesh.RevisionLabel]; ok {
		return has(rev) && !optOut
	}
	if rev, ok := podLabels[mesh.RevisionLabel]; ok {
		return has(rev) && !optOut
	}
	return podLabels[mesh.PodInjectionLabel] == "true" && has("default")
}

// WaitFixturesReady waits for every fixture Deployment; see WaitReady.
func (d *Deployer) WaitFixturesReady(ctx context.Context, revisions []string) error {
	topo, err := fixtures.LoadFor(d.Fixtures)
	if err != nil {
		return err
	}
	var refs []fixtures.Ref
	for _, w := range append(append([]fixtures.Workload{}, topo.Servers...), topo.Clients...) {
		refs = append(refs, w.Ref)
	}
	return d.WaitReady(ctx, refs, revisions)
}

// WaitReady waits until each Deployment has rolled out (observed its generation, all replicas
// updated and available, Available=True), its current pods are Ready, and each pod has the
// istio-proxy sidecar exactly when its namespace asks for injection by one of the installed
// revisions. A Ready pod whose sidecar is wrong is a SetupError, returned at once.
func (d *Deployer) WaitReady(ctx context.Context, refs []fixtures.Ref, revisions []string) error {
	pending := map[fixtures.Ref]string{}
	for _, r := range refs {
		pending[r] = "not checked yet"
	}
	var setupErr error
	err := wait.PollUntilContextTimeout(ctx, d.PollInterval, d.ReadyTimeout, true, func(ctx context.Context) (bool, error) {
		for ref := range pending {
			reason, err := d.workloadReady(ctx, ref, revisions)
			if err != nil {
				var se *SetupError
				if errors.As(err, &se) {
					setupErr = err
					return false, err
				}
				pending[ref] = err.Error()
				continue
			}
			if reason != "" {
				pending[ref] = reason
				continue
			}
			delete(pending, ref)
		}
		return len(pending) == 0, nil
	})
	if setupErr != nil {
		return setupErr
	}
	if err != nil {
		var lines []string
		for ref, reason := range pending {
			lines = append(lines, ref.String()+": "+reason)
		}
		sort.Strings(lines)
		return fmt.Errorf("deploy: workloads not ready within %s: %s", d.ReadyTimeout, strings.Join(lines, "; "))
	}
	return nil
}

// workloadReady returns "" when ref is ready, or what it is waiting for.
func (d *Deployer) workloadReady(ctx context.Context, ref fixtures.Ref, revisions []string) (string, error) {
	dep, err := d.kube.AppsV1().Deployments(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if reason := rolloutPending(dep); reason != "" {
		return reason, nil
	}
	ns, err := d.kube.CoreV1().Namespaces().Get(ctx, ref.Namespace, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return "", err
	}
	pods, err := d.kube.CoreV1().Pods(ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", err
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	restartedAt := dep.Spec.Template.Annotations[RestartedAtAnnotation]
	var current []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Annotations[RestartedAtAnnotation] != restartedAt {
			continue // terminating, or from before the last restart
		}
		current = append(current, p)
	}
	if int32(len(current)) != want {
		return fmt.Sprintf("%d current pods, want %d", len(current), want), nil
	}
	for _, p := range current {
		if !mesh.PodReady(p) {
			return "pod " + p.Name + " not Ready", nil
		}
		inject := Injected(ns.Labels, p.Labels, revisions)
		switch has := mesh.HasSidecar(p); {
		case inject && !has:
			return "", &SetupError{Msg: fmt.Sprintf("deploy: pod %s/%s has no %s container although namespace %s asks for injection (%s); the injection webhook did not act when the pod was created: check that istiod is ready and restart the Deployment", p.Namespace, p.Name, mesh.SidecarContainer, ns.Name, injectionLabels(ns.Labels))}
		case !inject && has:
			return "", &SetupError{Msg: fmt.Sprintf("deploy: pod %s/%s has an %s container although namespace %s does not ask for injection (%s)", p.Namespace, p.Name, mesh.SidecarContainer, ns.Name, injectionLabels(ns.Labels))}
		}
	}
	return "", nil
}

func injectionLabels(l map[string]string) string {
	var parts []string
	for _, k := range []string{mesh.InjectionLabel, mesh.RevisionLabel} {
		if v, ok := l[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return "no injection label"
	}
	return strings.Join(parts, ", ")
}

// rolloutPending mirrors `kubectl rollout status` (k8s.io/kubectl pkg/polymorphichelpers
// rollout_status.go DeploymentStatusViewer) plus the Available condition.
func rolloutPending(dep *appsv1.Deployment) string {
	if dep.Status.ObservedGeneration < dep.Generation {
		return fmt.Sprintf("generation %d not yet observed (observed %d)", dep.Generation, dep.Status.ObservedGeneration)
	}
	want := int32(1)
	if dep.Spec.Replicas != nil {
		want = *dep.Spec.Replicas
	}
	st := dep.Status
	switch {
	case st.UpdatedReplicas < want:
		return fmt.Sprintf("%d of %d replicas updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas available", st.AvailableReplicas, st.UpdatedReplicas)
	}
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			if c.Status == corev1.ConditionTrue {
				return ""
			}
			return fmt.Sprintf("Available=%s (%s)", c.Status, c.Reason)
		}
	}
	return "no Available condition yet"
}

// Restart does what `kubectl rollout restart` does (stamp the pod template with
// kubectl.kubernetes.io/restartedAt) and waits until the Deployment's new pods are ready, with
// sidecars as their namespace now asks.
func (d *Deployer) Restart(ctx context.Context, ref fixtures.Ref, revisions []string) error {
	stamp := time.Now().UTC().Format(time.RFC3339Nano)
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{RestartedAtAnnotation: stamp},
	}}}})
	if _, err := d.kube.AppsV1().Deployments(ref.Namespace).Patch(ctx, ref.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: mesh.FieldManager}); err != nil {
		return fmt.Errorf("deploy: restarting %s: %w", ref, err)
	}
	d.logf("restarted %s", ref)
	return d.WaitReady(ctx, []fixtures.Ref{ref}, revisions)
}

// SetInjection relabels a namespace's injection the way a scenario's NamespaceChange says:
// "enabled" or "disabled" set istio-injection, "none" removes it. Only a namespace the suite
// manages is changed. Pods keep their sidecar state until restarted (the webhook acts on pod
// CREATE only).
func (d *Deployer) SetInjection(ctx context.Context, namespace, injection string) error {
	var value any
	switch injection {
	case "enabled", "disabled":
		value = injection
	case "none":
		value = nil // a JSON merge patch null deletes the key
	default:
		return fmt.Errorf("deploy: injection %q: want enabled, disabled or none", injection)
	}
	return d.relabelNamespace(ctx, namespace, mesh.InjectionLabel, value)
}

// SetEnrolment enrols a namespace in the ambient data plane (istio.io/dataplane-mode=ambient) or
// takes the label off. Only a namespace the suite manages is changed. No restart: the istio-cni
// node agent captures or releases the running pods when their namespace's label changes (istio
// cni/pkg/nodeagent informers.go reconcilePod; the pod annotation ambient.istio.io/redirection
// says when it has).
func (d *Deployer) SetEnrolment(ctx context.Context, namespace string, enrolled bool) error {
	var value any // nil: a JSON merge patch null deletes the key
	if enrolled {
		value = fixtures.AmbientValue
	}
	return d.relabelNamespace(ctx, namespace, fixtures.AmbientLabel, value)
}

// relabelNamespace sets (or, value nil, removes) one label of a namespace the suite manages.
func (d *Deployer) relabelNamespace(ctx context.Context, namespace, label string, value any) error {
	if err := d.checkManagedNamespace(ctx, namespace, "relabelling it"); err != nil {
		return err
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{label: value}}})
	if _, err := d.kube.CoreV1().Namespaces().Patch(ctx, namespace, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: mesh.FieldManager}); err != nil {
		return fmt.Errorf("deploy: relabelling namespace %s: %w", namespace, err)
	}
	if value == nil {
		d.logf("namespace %s: %s removed", namespace, label)
	} else {
		d.logf("namespace %s: %s=%v", namespace, label, value)
	}
	return nil
}

// RestartNamespace restarts every Deployment the suite manages in namespace and waits for them.
func (d *Deployer) RestartNamespace(ctx context.Context, namespace string, revisions []string) error {
	deps, err := d.kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: mesh.ManagedSelector})
	if err != nil {
		return err
	}
	for _, dep := range deps.Items {
		if err := d.Restart(ctx, fixtures.Ref{Name: dep.Name, Namespace: namespace}, revisions); err != nil {
			return err
		}
	}
	return nil
}
