package upgrade

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// SidecarWant is what the sidecars of one namespace must be at a point of the upgrade.
type SidecarWant struct {
	// Revision is the control plane revision that injected them: the injector writes it on the
	// pod as the annotation istio.io/rev (istio-discovery files/injection-template.yaml:
	// `istio.io/rev: {{ .Revision | default "default" | quote }}`).
	Revision string
	// Tag is the proxy image tag: the Istio version, or the --istio-tag the release was installed
	// with.
	Tag string
}

// Sidecar is one pod's injected proxy.
type Sidecar struct {
	Pod      string
	Revision string
	Image    string
}

// Sidecars lists the current pods the suite manages in namespace (terminating ones skipped) with
// their istio-proxy; a pod without one has an empty Image.
func Sidecars(ctx context.Context, kube kubernetes.Interface, namespace string) ([]Sidecar, error) {
	pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: mesh.ManagedSelector})
	if err != nil {
		return nil, fmt.Errorf("pods in %s: %w", namespace, err)
	}
	var out []Sidecar
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		out = append(out, Sidecar{Pod: p.Name, Revision: p.Annotations[mesh.RevisionLabel], Image: mesh.ProxyImage(p)})
	}
	slices.SortFunc(out, func(a, b Sidecar) int { return strings.Compare(a.Pod, b.Pod) })
	return out, nil
}

// TagMatches reports whether an image reference carries tag, alone or with an image variant: the
// injector writes hub/proxyv2:<tag>, or <tag>-<variant> such as 1.31.1-distroless (istio/istio
// pkg/kube/inject/inject.go imageURL, updateImageTypeIfPresent).
func TagMatches(image, tag string) bool {
	if at := strings.Index(image, "@"); at >= 0 {
		image = image[:at] // a digest after the tag
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return false
	}
	got := image[i+1:]
	return got == tag || (strings.HasPrefix(got, tag+"-") && !strings.Contains(got[len(tag)+1:], "."))
}

// ExpectSidecars checks that every current pod the suite manages in namespace runs an istio-proxy
// injected by want.Revision with image tag want.Tag: the proof that a phase runs the sidecars it
// claims to (old ones under a new control plane, or new ones after a restart).
func ExpectSidecars(ctx context.Context, kube kubernetes.Interface, namespace string, want SidecarWant) error {
	sidecars, err := Sidecars(ctx, kube, namespace)
	if err != nil {
		return err
	}
	if len(sidecars) == 0 {
		return fmt.Errorf("namespace %s has no pods managed by mtls-conformance", namespace)
	}
	var wrong []string
	for _, s := range sidecars {
		switch {
		case s.Image == "":
			wrong = append(wrong, s.Pod+" has no "+mesh.SidecarContainer)
		case s.Revision != want.Revision || !TagMatches(s.Image, want.Tag):
			wrong = append(wrong, fmt.Sprintf("%s runs %s from revision %q", s.Pod, s.Image, s.Revision))
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("namespace %s: want sidecars with tag %s from revision %q, but %s", namespace, want.Tag, want.Revision, strings.Join(wrong, "; "))
	}
	return nil
}
