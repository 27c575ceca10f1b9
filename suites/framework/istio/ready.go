package istio

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/deploy"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// WaitReady waits until the istiod Deployment of this revision is Available for its current
// generation and its sidecar injection webhook answers: a dry-run Pod create in the Istio
// namespace, labelled istio.io/rev=<revision>, comes back with the istio-proxy sidecar. That pod
// matches the chart's "rev.object.sidecar-injector.istio.io" webhook (namespace without
// istio-injection / istio.io/rev labels, pod labelled with the revision; istio-discovery
// templates/mutatingwebhook.yaml), and a dry run passes through mutating webhooks (Istio's
// declare sideEffects: None) without storing anything.
func (in *Installer) WaitReady(ctx context.Context) error {
	name := in.IstiodDeployment()
	err := pollUntil(ctx, in.pollEvery, in.opts.ReadyTimeout, func(ctx context.Context) (bool, string, error) {
		dep, err := in.kube.AppsV1().Deployments(in.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "istiod Deployment: " + err.Error(), nil
		}
		if reason := deploymentUnavailable(dep); reason != "" {
			return false, "istiod Deployment " + reason, nil
		}
		if reason := in.injectionAnswers(ctx, dep); reason != "" {
			return false, reason, nil
		}
		return true, "", nil
	})
	if err != nil {
		return fmt.Errorf("istio %s: istiod %s/%s not ready: %w", in.opts.Version, in.opts.Namespace, name, err)
	}
	in.logf("istiod %s/%s (revision %s) is Available and injects sidecars", in.opts.Namespace, name, in.Revision())
	return nil
}

func deploymentUnavailable(dep *appsv1.Deployment) string {
	if dep.Status.ObservedGeneration < dep.Generation {
		return fmt.Sprintf("generation %d not yet observed", dep.Generation)
	}
	for _, c := range dep.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			if c.Status == corev1.ConditionTrue {
				return ""
			}
			return fmt.Sprintf("not Available (%s: %s)", c.Reason, c.Message)
		}
	}
	return "has no Available condition yet"
}

// injectionAnswers returns "" when the injection webhook injects a dry-run pod, else why not.
func (in *Installer) injectionAnswers(ctx context.Context, istiod *appsv1.Deployment) string {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "mtls-conformance-injection-check-",
			Labels:       map[string]string{deploy.RevisionLabel: in.Revision(), deploy.ManagedByLabel: deploy.ManagedByValue},
		},
		Spec: corev1.PodSpec{
			// The ServiceAccount admission plugin wants an existing account; istiod's own is
			// there by construction.
			ServiceAccountName:           istiod.Spec.Template.Spec.ServiceAccountName,
			AutomountServiceAccountToken: new(bool),
			Containers:                   []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	got, err := in.kube.CoreV1().Pods(in.opts.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return "injection webhook did not answer: " + strings.Join(strings.Fields(err.Error()), " ")
	}
	if !deploy.HasSidecar(got) {
		return "injection webhook answered but added no istio-proxy container to a pod labelled " + deploy.RevisionLabel + "=" + in.Revision()
	}
	return ""
}

// pollUntil polls check every interval until it reports done, ctx ends or timeout passes; the
// error then carries check's last reason.
func pollUntil(ctx context.Context, interval, timeout time.Duration, check func(context.Context) (bool, string, error)) error {
	var last string
	deadline := time.Now().Add(timeout)
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		done, reason, err := check(ctx)
		// A call cut short by our own deadline (or by client-go's rate limiter refusing to wait
		// past it) says nothing new: keep the reason seen before.
		if reason != "" && ctx.Err() == nil && time.Now().Before(deadline) {
			last = reason
		}
		return done, err
	})
	if err != nil {
		if last != "" {
			return fmt.Errorf("after %s: %s", timeout, last)
		}
		return err
	}
	return nil
}
