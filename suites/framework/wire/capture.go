package wire

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeexec"
)

// ErrCapture marks a capture that could not be made or read: an infrastructure error, never a
// verdict on encryption.
var ErrCapture = errors.New("wire capture failed")

// Namespace holds the capture pods. It is labelled as everything the suite creates, and allows
// privileged pods (Pod Security Admission) since a host-network pod with NET_RAW is one.
const Namespace = "mtls-conformance-wire"

// Interface is what tcpdump listens on: every interface of the node's network namespace, so a
// pod-to-pod packet is seen on the server pod's veth whatever the CNI names it.
const Interface = "any"

// NewCanary is a string no other traffic carries: the probe sends it, the judge looks for it.
func NewCanary() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "mtls-canary-" + hex.EncodeToString(b)
}

// Capturer runs tcpdump in a host-network pod on a node. One pod per node, created on first use
// and reused; Close deletes them and the namespace.
type Capturer struct {
	config *rest.Config
	kube   kubernetes.Interface
	// Image runs the pod: tcpdump and a POSIX shell (sh, kill, cat, rm, sleep).
	Image string
	// Labels go on the namespace and the pods (the suite's managed-by and run-id labels), so the
	// run's cleanup removes whatever Close could not.
	Labels map[string]string
	// Interface and ExtraFilter exist so that a test can break the capture on purpose.
	Interface string
	// ReadyTimeout bounds the pod's start.
	ReadyTimeout time.Duration

	mu   sync.Mutex
	pods map[string]string // node → pod name
}

// NewCapturer prepares a capturer for the cluster behind config.
func NewCapturer(config *rest.Config, image string, labels map[string]string) (*Capturer, error) {
	cfg, cs, err := kubeexec.Clients(config)
	if err != nil {
		return nil, fmt.Errorf("wire: %w", err)
	}
	if image == "" {
		return nil, errors.New("wire: no capture image")
	}
	return &Capturer{config: cfg, kube: cs, Image: image, Labels: labels, Interface: Interface, ReadyTimeout: 2 * time.Minute, pods: map[string]string{}}, nil
}

// podName is the capture pod's name on node (a DNS label: node names can be longer).
func podName(node string) string {
	name := "capture-" + strings.ToLower(node)
	name = regexp.MustCompile(`[^a-z0-9-]`).ReplaceAllString(name, "-")
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "-")
}

// pod makes sure the capture pod runs on node and returns its name.
func (c *Capturer) pod(ctx context.Context, node string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := c.pods[node]; ok {
		return name, nil
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: merge(c.Labels, map[string]string{
		// Pod Security Admission: host network and added capabilities are the privileged level.
		"pod-security.kubernetes.io/enforce": "privileged",
	})}}
	if _, err := c.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("%w: namespace %s: %v", ErrCapture, Namespace, err)
	}
	name := podName(node)
	zero := int64(0)
	root := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: merge(c.Labels, map[string]string{"app": "mtls-conformance-capture"}),
			// Never injected: the capture must see the node's packets, not a sidecar's.
			Annotations: map[string]string{"sidecar.istio.io/inject": "false"}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostNetwork:                   true,
			DNSPolicy:                     corev1.DNSClusterFirstWithHostNet,
			TerminationGracePeriodSeconds: &zero,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			AutomountServiceAccountToken:  new(bool),
			Containers: []corev1.Container{{
				Name:    "tcpdump",
				Image:   c.Image,
				Command: []string{"sleep", "infinity"},
				// tcpdump opens an AF_PACKET socket: NET_RAW; NET_ADMIN for interfaces that need
				// promiscuous mode. Nothing else is added.
				SecurityContext: &corev1.SecurityContext{
					RunAsUser:    &root,
					Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_RAW", "NET_ADMIN"}},
				},
			}},
		},
	}
	if _, err := c.kube.CoreV1().Pods(Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("%w: capture pod on node %s: %v", ErrCapture, node, err)
	}
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, c.ReadyTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := c.kube.CoreV1().Pods(Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Running != nil {
				return true, nil
			}
			if w := s.State.Waiting; w != nil {
				last = w.Reason + ": " + w.Message
			}
		}
		last = cmpOr(last, "phase "+string(p.Status.Phase))
		return false, nil
	})
	if err != nil {
		return "", fmt.Errorf("%w: capture pod %s/%s on node %s not running after %s: %s", ErrCapture, Namespace, name, node, c.ReadyTimeout, last)
	}
	c.pods[node] = name
	return name, nil
}

// Filter is the tcpdump expression for flows: TCP between each client and its server port.
func Filter(flows []Flow) string {
	var parts []string
	seen := map[Flow]bool{}
	for _, f := range flows {
		if seen[f] {
			continue
		}
		seen[f] = true
		parts = append(parts, fmt.Sprintf("(host %s and host %s and tcp port %d)", f.Client, f.Server.Addr(), f.Server.Port()))
	}
	return "tcp and (" + strings.Join(parts, " or ") + ")"
}

// Capture is one running tcpdump.
type Capture struct {
	c      *Capturer
	pod    string
	node   string
	file   string
	pid    int
	Filter string
}

var captureSeq struct {
	sync.Mutex
	n int
}

// Start starts tcpdump on node with filter and returns once it is listening (tcpdump prints
// "listening on" after it opened the interface and installed the filter), so that no packet
// sent after Start returns is missed. A tcpdump that cannot start (no such interface, a filter
// it rejects, no permission) is an ErrCapture naming its own words.
func (c *Capturer) Start(ctx context.Context, node, filter string) (*Capture, error) {
	pod, err := c.pod(ctx, node)
	if err != nil {
		return nil, err
	}
	captureSeq.Lock()
	captureSeq.n++
	id := fmt.Sprintf("/tmp/mtls-wire-%d-%d", time.Now().UnixNano(), captureSeq.n)
	captureSeq.Unlock()
	// --immediate-mode: each packet delivered as it arrives (libpcap's TPACKET_V3 otherwise holds
	// packets in a block until it fills or times out, and a SIGINT before that loses them: the
	// first real run here captured nothing of a 0.3 s request); -U: each packet written at once;
	// -s 0: whole packets; -Z root: write as root (Debian's tcpdump drops to user tcpdump
	// otherwise); -n: no name lookups.
	script := fmt.Sprintf(`tcpdump -i %s -n --immediate-mode -B 8192 -U -s 0 -Z root -w %s.pcap %s >%s.log 2>&1 </dev/null &
pid=$!
i=0
while [ $i -lt 100 ]; do
  if grep -q 'listening on' %s.log 2>/dev/null; then echo "$pid"; exit 0; fi
  if ! kill -0 $pid 2>/dev/null; then cat %s.log >&2; rm -f %s.pcap %s.log; exit 3; fi
  sleep 0.1; i=$((i+1))
done
kill $pid; cat %s.log >&2; exit 4`, shellQuote(c.Interface), id, shellQuote(filter), id, id, id, id, id, id)
	var stdout, stderr bytes.Buffer
	code, err := kubeexec.Run(ctx, c.config, c.kube, Namespace, pod, "tcpdump", []string{"sh", "-c", script}, &stdout, &stderr)
	if err != nil {
		return nil, fmt.Errorf("%w: starting tcpdump on %s: %v", ErrCapture, node, err)
	}
	if code != 0 {
		why := strings.TrimSpace(stderr.String())
		if code == 4 {
			why = "not listening after 10s: " + why
		}
		return nil, fmt.Errorf("%w: tcpdump on node %s (interface %s) did not start: %s", ErrCapture, node, c.Interface, firstLines(why, 3))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
	if err != nil {
		return nil, fmt.Errorf("%w: tcpdump on %s: no pid in %q", ErrCapture, node, stdout.String())
	}
	return &Capture{c: c, pod: pod, node: node, file: id, pid: pid, Filter: filter}, nil
}

// Stop stops tcpdump (SIGINT: it flushes and closes the file), reads the pcap and removes it.
func (cp *Capture) Stop(ctx context.Context) ([]byte, error) {
	// The short wait lets the last segments (FIN, ACK) of a request that just ended arrive.
	script := fmt.Sprintf(`sleep 0.3; kill -INT %d 2>/dev/null
i=0
while kill -0 %d 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
cat %s.pcap; rc=$?
rm -f %s.pcap %s.log
exit $rc`, cp.pid, cp.pid, cp.file, cp.file, cp.file)
	var stdout, stderr bytes.Buffer
	code, err := kubeexec.Run(ctx, cp.c.config, cp.c.kube, Namespace, cp.pod, "tcpdump", []string{"sh", "-c", script}, &stdout, &stderr)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the capture on %s: %v", ErrCapture, cp.node, err)
	}
	if code != 0 {
		return nil, fmt.Errorf("%w: reading the capture on %s: exit %d: %s", ErrCapture, cp.node, code, firstLines(stderr.String(), 2))
	}
	return stdout.Bytes(), nil
}

// Close deletes the capture pods and the namespace and waits until they are gone.
func (c *Capturer) Close(ctx context.Context) error {
	c.mu.Lock()
	c.pods = map[string]string{}
	c.mu.Unlock()
	zero := int64(0)
	err := c.kube.CoreV1().Namespaces().Delete(ctx, Namespace, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("wire: deleting namespace %s: %w", Namespace, err)
	}
	return wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.kube.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// PodFlow is the flow from a client pod to a server pod's port, read from the pods' status.
func PodFlow(client, server *corev1.Pod, port int) (Flow, error) {
	c, err := netip.ParseAddr(client.Status.PodIP)
	if err != nil {
		return Flow{}, fmt.Errorf("%w: client pod %s/%s has no IP (%q)", ErrCapture, client.Namespace, client.Name, client.Status.PodIP)
	}
	s, err := netip.ParseAddr(server.Status.PodIP)
	if err != nil {
		return Flow{}, fmt.Errorf("%w: server pod %s/%s has no IP (%q)", ErrCapture, server.Namespace, server.Name, server.Status.PodIP)
	}
	if client.Spec.HostNetwork || server.Spec.HostNetwork {
		return Flow{}, fmt.Errorf("%w: a host-network pod's traffic cannot be told apart from its node's", ErrCapture)
	}
	return Flow{Client: c, Server: netip.AddrPortFrom(s, uint16(port))}, nil
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.TrimSpace(l) == "" })
	if len(lines) > n {
		lines = lines[:n]
	}
	if len(lines) == 0 {
		return "(no output)"
	}
	return strings.Join(lines, " | ")
}
