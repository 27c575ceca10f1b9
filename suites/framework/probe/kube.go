package probe

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeexec"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// AppLabel is the pod label a client Deployment's pods are found by (every fixture sets it).
const AppLabel = "app"

// KubeExecutor runs commands in a client's pod through the API server's exec subresource,
// over WebSocket with a fallback to SPDY, like kubectl exec. One REST config and clientset
// serve every exec; client-go caches the transport per config.
type KubeExecutor struct {
	config    *rest.Config
	clientset *kubernetes.Clientset
}

// NewKubeExecutor builds an executor for the cluster config points at.
func NewKubeExecutor(config *rest.Config) (*KubeExecutor, error) {
	cfg, clientset, err := kubeexec.Clients(config)
	if err != nil {
		return nil, fmt.Errorf("kube executor: %w", err)
	}
	return &KubeExecutor{config: cfg, clientset: clientset}, nil
}

// Exec runs argv in client.Container of the newest ready pod labelled app=<client's app> in the
// client's namespace. The remote exit code comes back as utilexec.CodeExitError (a value type,
// client-go tools/remotecommand v4.go errorDecoderV4); any other error is an infrastructure error.
func (k *KubeExecutor) Exec(ctx context.Context, client fixtures.Workload, argv []string) (ExecResult, error) {
	pod, err := k.readyPod(ctx, client)
	if err != nil {
		return ExecResult{}, err
	}
	var stdout, stderr bytes.Buffer
	code, err := kubeexec.Run(ctx, k.config, k.clientset, pod.Namespace, pod.Name, client.Container, argv, &stdout, &stderr)
	return ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: code}, err
}

// readyPod picks the pod to exec in. During a rollout (a scenario restarts clients after changing
// injection) an old and a new pod can both exist: terminating pods are skipped and the newest ready
// pod wins, since it is the one created under the current configuration.
func (k *KubeExecutor) readyPod(ctx context.Context, client fixtures.Workload) (*corev1.Pod, error) {
	app, ok := client.PodLabels[AppLabel]
	if !ok {
		return nil, fmt.Errorf("client %s has no %q pod label to find its pod by", client.Ref, AppLabel)
	}
	selector := labels.SelectorFromSet(labels.Set{AppLabel: app}).String()
	list, err := k.clientset.CoreV1().Pods(client.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list pods %s in %s: %w", selector, client.Namespace, err)
	}
	var ready []*corev1.Pod
	var seen []string
	for i := range list.Items {
		pod := &list.Items[i]
		state := podState(pod, client.Container)
		if state == "" {
			ready = append(ready, pod)
			continue
		}
		seen = append(seen, pod.Name+" "+state)
	}
	if len(ready) == 0 {
		if len(seen) == 0 {
			return nil, fmt.Errorf("no pod of %s (%s) in namespace %s", client.Ref, selector, client.Namespace)
		}
		return nil, fmt.Errorf("no ready pod of %s (%s) in namespace %s: %s", client.Ref, selector, client.Namespace, strings.Join(seen, "; "))
	}
	return slices.MaxFunc(ready, func(a, b *corev1.Pod) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	}), nil
}

// podState is "" for a pod that can take an exec, or why it cannot.
func podState(pod *corev1.Pod, container string) string {
	if pod.DeletionTimestamp != nil {
		return "terminating"
	}
	if pod.Status.Phase != corev1.PodRunning {
		return "phase " + string(pod.Status.Phase)
	}
	if !mesh.PodReady(pod) {
		return "not Ready"
	}
	if container != "" && !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == container }) {
		return fmt.Sprintf("has no container %q", container)
	}
	return ""
}
