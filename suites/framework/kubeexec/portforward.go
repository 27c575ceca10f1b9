package kubeexec

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
)

// PortForwardGet makes one HTTP GET of path on a port of a pod through the Kubernetes API, the
// way `kubectl port-forward` reaches it: the port may listen on the pod's localhost only (ztunnel's
// admin port does; `istioctl ztunnel-config` reads it so, istio pkg/kube/client.go
// portForwardRequest). A status other than 200 is an error.
func PortForwardGet(ctx context.Context, config *rest.Config, namespace, pod string, port int, path string) ([]byte, error) {
	cfg, cs, err := Clients(config)
	if err != nil {
		return nil, err
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	dialer, err := newDialer(cfg, u)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s/%s: %w", namespace, pod, err)
	}
	fwCtx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesForStreamingWithContext(fwCtx, dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s/%s: %w", namespace, pod, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-ready:
		// The listener and the stream connection are closed before returning: ForwardPorts
		// returns once its context is done.
		defer func() { stop(); <-done }()
	case err := <-done:
		return nil, fmt.Errorf("port-forward to %s/%s port %d: %w", namespace, pod, port, err)
	case <-ctx.Done():
		return nil, fmt.Errorf("port-forward to %s/%s port %d: %w", namespace, pod, port, ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		return nil, fmt.Errorf("port-forward to %s/%s port %d: no local port (%v)", namespace, pod, port, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/%s", ports[0].Local, strings.TrimPrefix(path, "/")), nil)
	if err != nil {
		return nil, err
	}
	// One connection, closed with the forwarder: no idle connection to its ephemeral port.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		// The kubelet's reason (e.g. nothing listens on the port) goes to client-go's error
		// handler, not to this connection, which only ends.
		return nil, fmt.Errorf("GET %s on %s/%s port %d: %w (is the port listening in the pod?)", path, namespace, pod, port, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s on %s/%s port %d: %w", path, namespace, pod, port, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s on %s/%s port %d: status %d", path, namespace, pod, port, resp.StatusCode)
	}
	return body, nil
}

// newDialer is kubectl's choice (kubernetes/kubectl v0.37 pkg/cmd/portforward createDialer):
// SPDY over WebSocket first, SPDY (POST) when the upgrade fails or an HTTPS proxy is in the way.
func newDialer(config *rest.Config, u *url.URL) (httpstream.Dialer, error) {
	transport, upgrader, err := spdy.RoundTripperFor(config)
	if err != nil {
		return nil, err
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	tunneling, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, config)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialerForStreaming(tunneling, spdyDialer, fallBackToSPDY), nil
}
