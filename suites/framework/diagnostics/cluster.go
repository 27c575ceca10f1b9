package diagnostics

import (
	"bytes"
	"context"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeexec"
)

// Cluster is the read-only cluster access diagnostics need. KubeCluster implements it with
// client-go; tests use a fake.
type Cluster interface {
	// Pods lists the pods of namespace whose labels include selector.
	Pods(ctx context.Context, namespace string, selector map[string]string) ([]corev1.Pod, error)
	// Logs returns the last tailLines lines of a container's log, at most limitBytes of them.
	Logs(ctx context.Context, namespace, pod, container string, tailLines, limitBytes int64) ([]byte, error)
	// Exec runs argv in a container; a non-zero exit is an error, with whatever was printed.
	Exec(ctx context.Context, namespace, pod, container string, argv []string) (stdout, stderr []byte, err error)
	// Events lists a namespace's events.
	Events(ctx context.Context, namespace string) ([]corev1.Event, error)
	// Objects lists one resource's objects in a namespace (PeerAuthentications, DestinationRules).
	Objects(ctx context.Context, resource schema.GroupVersionResource, namespace string) ([]unstructured.Unstructured, error)
}

// DefaultMaxExecBytes bounds what KubeCluster.Exec keeps of a command's output.
const DefaultMaxExecBytes = 32 << 20

// KubeCluster is Cluster over client-go.
type KubeCluster struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Config is used for exec streams.
	Config *rest.Config
	// MaxExecBytes bounds each of stdout and stderr of an exec (DefaultMaxExecBytes when 0); the
	// rest is read and dropped so the remote command is not blocked.
	MaxExecBytes int
}

// NewKubeCluster builds a KubeCluster for config.
func NewKubeCluster(config *rest.Config) (*KubeCluster, error) {
	cfg, client, err := kubeexec.Clients(config)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("diagnostics: %w", err)
	}
	return &KubeCluster{Client: client, Dynamic: dyn, Config: cfg}, nil
}

// Pods implements Cluster.
func (k *KubeCluster) Pods(ctx context.Context, namespace string, selector map[string]string) ([]corev1.Pod, error) {
	list, err := k.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(selector).String(),
	})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Logs implements Cluster.
func (k *KubeCluster) Logs(ctx context.Context, namespace, pod, container string, tailLines, limitBytes int64) ([]byte, error) {
	opts := &corev1.PodLogOptions{Container: container}
	if tailLines > 0 {
		opts.TailLines = &tailLines
	}
	if limitBytes > 0 {
		opts.LimitBytes = &limitBytes
	}
	return k.Client.CoreV1().Pods(namespace).GetLogs(pod, opts).DoRaw(ctx)
}

// Events implements Cluster.
func (k *KubeCluster) Events(ctx context.Context, namespace string) ([]corev1.Event, error) {
	list, err := k.Client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Objects implements Cluster.
func (k *KubeCluster) Objects(ctx context.Context, resource schema.GroupVersionResource, namespace string) ([]unstructured.Unstructured, error) {
	list, err := k.Dynamic.Resource(resource).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// Exec implements Cluster through the pods/exec subresource, the way kubectl exec does
// (kubernetes/kubectl pkg/cmd/exec/exec.go createExecutor): WebSocket first, SPDY when the
// upgrade fails or an HTTPS proxy is in the way. A non-zero remote exit arrives as client-go's
// utilexec.CodeExitError, a value type (client-go tools/remotecommand v4.go).
func (k *KubeCluster) Exec(ctx context.Context, namespace, pod, container string, argv []string) ([]byte, []byte, error) {
	limit := k.MaxExecBytes
	if limit <= 0 {
		limit = DefaultMaxExecBytes
	}
	stdout, stderr := &cappedBuffer{max: limit}, &cappedBuffer{max: limit}
	code, err := kubeexec.Run(ctx, k.Config, k.Client, namespace, pod, container, argv, stdout, stderr)
	if err == nil && code != 0 {
		err = fmt.Errorf("exec in %s/%s container %s: %v exited %d", namespace, pod, container, argv, code)
	}
	return stdout.Bytes(), stderr.Bytes(), err
}

// cappedBuffer keeps the first max bytes written and drops the rest while reporting success,
// so a large output cannot exhaust memory and the stream keeps flowing.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

var _ io.Writer = (*cappedBuffer)(nil)

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *cappedBuffer) Bytes() []byte { return c.buf.Bytes() }
