package istio

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/klient/wait"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// WaitReady waits until the istiod Deployment of this revision has rolled out its current
// generation and its sidecar injection webhook answers as this control plane: a dry-run Pod
// create in the Istio namespace, labelled istio.io/rev=<revision>, comes back with an
// istio-proxy sidecar running <hub>/proxyv2:<tag> of this control plane. That pod matches the
// chart's "rev.object.sidecar-injector.istio.io" webhook (namespace without istio-injection /
// istio.io/rev labels, pod labelled with the revision; istio-discovery
// templates/mutatingwebhook.yaml), and a dry run passes through mutating webhooks (Istio's
// declare sideEffects: None) without storing anything.
//
// Available=True is not enough: the chart rolls istiod out with maxSurge 100 % (istio-discovery
// values.yaml rollingMaxSurge), so during an upgrade the old pod keeps the Deployment Available
// and keeps answering the webhook until the new one has replaced it.
func (in *Installer) WaitReady(ctx context.Context) error {
	name := in.IstiodDeployment()
	err := pollUntil(ctx, in.pollEvery, in.opts.ReadyTimeout, func(ctx context.Context) (bool, string, error) {
		dep, err := in.kube.AppsV1().Deployments(in.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "istiod Deployment: " + err.Error(), nil
		}
		reason, err := RolloutPending(dep)
		if err != nil || reason != "" {
			return false, "istiod Deployment " + reason, err
		}
		want, err := in.wantProxyImage(dep)
		if err != nil {
			return false, "", err
		}
		if reason := in.injectionAnswers(ctx, dep, want); reason != "" {
			return false, reason, nil
		}
		return true, "", nil
	})
	if err != nil {
		return fmt.Errorf("istio %s: istiod %s/%s not ready: %w", in.opts.Version, in.opts.Namespace, name, err)
	}
	in.logf("istiod %s/%s (revision %s) has rolled out and injects its sidecars", in.opts.Namespace, name, in.Revision())
	return nil
}

// RolloutPending says why dep's rollout has not finished, as `kubectl rollout status` decides it
// (k8s.io/kubectl pkg/polymorphichelpers/rollout_status.go, DeploymentStatusViewer.Status): the
// current generation observed, every replica updated, no old replica left (pending termination),
// every updated replica available. "" means rolled out; an exceeded progress deadline is an
// error, as there.
func RolloutPending(dep *appsv1.Deployment) (string, error) {
	if dep.Generation > dep.Status.ObservedGeneration {
		return fmt.Sprintf("generation %d not yet observed", dep.Generation), nil
	}
	for _, c := range dep.Status.Conditions {
		// deploymentutil.TimedOutReason
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return "", fmt.Errorf("istiod Deployment %s/%s exceeded its progress deadline: %s", dep.Namespace, dep.Name, c.Message)
		}
	}
	s := dep.Status
	switch {
	case dep.Spec.Replicas != nil && s.UpdatedReplicas < *dep.Spec.Replicas:
		return fmt.Sprintf("rollout: %d out of %d new replicas have been updated", s.UpdatedReplicas, *dep.Spec.Replicas), nil
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("rollout: %d old replicas are pending termination", s.Replicas-s.UpdatedReplicas), nil
	case s.AvailableReplicas < s.UpdatedReplicas:
		return fmt.Sprintf("rollout: %d of %d updated replicas are available", s.AvailableReplicas, s.UpdatedReplicas), nil
	}
	return "", nil
}

// wantProxyImage is the sidecar image this control plane injects, <hub>/proxyv2:<tag>: the
// injector builds it from global.hub, global.proxy.image and global.tag (+ -<variant>) (istio/istio
// pkg/kube/inject/inject.go ProxyImage, imageURL), and the chart builds istiod's own image
// <hub>/pilot:<tag> from the same values (istio-discovery templates/deployment.yaml). The tag
// must be the one this Installer installs: --istio-tag, else the version (a released chart's
// global.tag). An istiod image of another shape was set by values this Installer does not model.
func (in *Installer) wantProxyImage(dep *appsv1.Deployment) (string, error) {
	var image string
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == "discovery" {
			image = c.Image
		}
	}
	slash := strings.LastIndex(image, "/")
	hub, nameTag := image[:max(slash, 0)], image[slash+1:]
	name, tag, ok := strings.Cut(nameTag, ":")
	if slash <= 0 || !ok || name != "pilot" || strings.Contains(tag, "@") {
		return "", fmt.Errorf("istiod Deployment %s/%s runs image %q, not <hub>/pilot:<tag>; the Installer cannot tell which sidecar image it injects", dep.Namespace, dep.Name, image)
	}
	wantTag := in.opts.Tag
	if wantTag == "" {
		wantTag = in.opts.Version
	}
	if tag != wantTag && !strings.HasPrefix(tag, wantTag+"-") {
		return "", fmt.Errorf("istiod Deployment %s/%s runs %s, not the tag %s this control plane was installed with", dep.Namespace, dep.Name, image, wantTag)
	}
	return hub + "/proxyv2:" + tag, nil
}

// injectionAnswers returns "" when the injection webhook injects a dry-run pod with an
// istio-proxy running want, else why not.
func (in *Installer) injectionAnswers(ctx context.Context, istiod *appsv1.Deployment, want string) string {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "mtls-conformance-injection-check-",
			Labels:       map[string]string{mesh.RevisionLabel: in.Revision(), mesh.ManagedByLabel: mesh.ManagedByValue},
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
	switch image := mesh.ProxyImage(got); image {
	case "":
		return "injection webhook answered but added no istio-proxy container to a pod labelled " + mesh.RevisionLabel + "=" + in.Revision()
	case want:
		return ""
	default:
		// An old istiod still behind the webhook's Service (the rollout's old pod, or its
		// endpoint not yet removed).
		return "injection webhook injected istio-proxy image " + image + ", not " + want + " (the image of the control plane just installed)"
	}
}

// pollUntil runs check every interval (e2e-framework's wait.For) until it reports done, returns
// an error, ctx ends or timeout passes; the error then carries check's last reason.
func pollUntil(ctx context.Context, interval, timeout time.Duration, check func(context.Context) (bool, string, error)) error {
	var last string
	deadline := time.Now().Add(timeout)
	err := wait.For(func(ctx context.Context) (bool, error) {
		done, reason, err := check(ctx)
		// A call cut short by our own deadline (or by client-go's rate limiter refusing to wait
		// past it) says nothing new: keep the reason seen before.
		if reason != "" && ctx.Err() == nil && time.Now().Before(deadline) {
			last = reason
		}
		return done, err
	}, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(interval), wait.WithImmediate())
	if err != nil {
		if last != "" && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			return fmt.Errorf("after %s: %s", timeout, last)
		}
		return err
	}
	return nil
}
