// Package kubeexec runs a command in a pod's container the way `kubectl exec` does, for the
// probe engine, the diagnostics collector and authcheck alike.
package kubeexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeclient"
)

// Clients returns a copy of config without a client-wide Timeout, and a clientset on it: an
// exec or a log stream is one long request that a Timeout would cut, so each call is bounded by
// its context instead. The rate limit is the suite's (kubeclient): every probe attempt looks its
// pod up through this clientset.
func Clients(config *rest.Config) (*rest.Config, *kubernetes.Clientset, error) {
	cfg := kubeclient.Config(config)
	cfg.Timeout = 0
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, cs, nil
}

// Run streams argv's output in namespace/pod/container into stdout and stderr. A command that
// ran and exited non-zero returns its exit code and a nil error: the remote exit arrives as
// client-go's utilexec.CodeExitError, a value type (client-go tools/remotecommand v4.go). Any
// other error means the command could not run (pod, container, API server, transport).
func Run(ctx context.Context, config *rest.Config, client kubernetes.Interface, namespace, pod, container string, argv []string, stdout, stderr io.Writer) (exitCode int, err error) {
	req := client.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container,
			Command:   argv,
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	executor, err := newExecutor(config, req.URL())
	if err != nil {
		return 0, fmt.Errorf("exec in %s/%s: %w", namespace, pod, err)
	}
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	var exitErr utilexec.CodeExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		return exitErr.Code, nil
	}
	return 0, fmt.Errorf("exec in %s/%s container %q: %w", namespace, pod, container, err)
}

// newExecutor is kubectl's choice (kubernetes/kubectl pkg/cmd/exec/exec.go createExecutor):
// WebSocket (GET, RFC 6455) first, SPDY (POST) when the upgrade fails or an HTTPS proxy is in
// the way. The predicate uses k8s.io/streaming's httpstream, whose UpgradeFailureError is the one
// client-go v0.37's WebSocket transport returns (client-go transport/websocket/roundtripper.go).
func newExecutor(config *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	spdyExec, err := remotecommand.NewSPDYExecutor(config, "POST", u)
	if err != nil {
		return nil, err
	}
	wsExec, err := remotecommand.NewWebSocketExecutor(config, "GET", u.String())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(wsExec, spdyExec, fallBackToSPDY)
}

// fallBackToSPDY is kubectl's test for leaving WebSocket for SPDY, for exec and port-forward
// alike: the upgrade failed, or an HTTPS proxy is in the way.
func fallBackToSPDY(err error) bool {
	return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
}
