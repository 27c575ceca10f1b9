//go:build localcluster

package localcluster

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeexec"
	meshlabels "github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/wire"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/certtest"
)

// The wire, for real: tcpdump in a host-network pod on the kind node (the local capture image,
// Debian's tcpdump) captures traffic between fixture pods through the real CNI, and the judge
// reads the bytes.
//   - plaintext HTTP, sleep.legacy → httpbin.legacy:8000 with the canary in the path: canary seen;
//   - TLS, sleep.legacy → a go-httpbin serving HTTPS with a self-signed certificate (curl -k):
//     no canary, a ClientHello offering curl's ALPN h2, http/1.1;
//   - TCP, sleep.legacy → httpbin.legacy's TCP echo (Service port tcp-echo 9000): the echo comes
//     back and the canary is seen on the wire;
//   - the broken capture: tcpdump on the node's loopback, or a filter naming another host,
//     captures nothing of the flow, which is NothingCaptured (an infrastructure error); an
//     interface that does not exist fails Start with tcpdump's own words.
func TestWire(t *testing.T) {
	ctx := ctxFor(t, 5*time.Minute)
	client := podOf(t, kube, "legacy", "app=sleep")
	server := podOf(t, kube, "legacy", "app=httpbin")
	node := server.Spec.NodeName
	image := loadCaptureImage(t, node)
	capturer, err := wire.NewCapturer(w.Config, image, map[string]string{meshlabels.ManagedByLabel: meshlabels.ManagedByValue, meshlabels.RunIDLabel: "wire-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := capturer.Close(context.Background()); err != nil {
			t.Errorf("capture cleanup: %v", err)
		}
	})
	sleep, _ := w.Topology.Workload(fixtures.Ref{Name: "sleep", Namespace: "legacy"})

	// capture runs argv in sleep.legacy while tcpdump captures flow, and judges it.
	capture := func(t *testing.T, c *wire.Capturer, flow wire.Flow, filter, canary string, argv ...string) (wire.Verdict, string, int) {
		t.Helper()
		cp, err := c.Start(ctx, node, filter)
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		var stdout, stderr bytes.Buffer
		code, err := kubeexec.Run(ctx, w.Config, kube, client.Namespace, client.Name, sleep.Container, argv, &stdout, &stderr)
		if err != nil {
			t.Fatalf("exec %v: %v", argv, err)
		}
		pcap, err := cp.Stop(ctx)
		if err != nil {
			t.Fatalf("stop: %v", err)
		}
		v, err := wire.JudgePcap(pcap, []wire.Cell{{Flow: flow, Canary: canary}})
		if err != nil {
			t.Fatalf("judge %d bytes: %v", len(pcap), err)
		}
		t.Logf("%s: %d pcap bytes, curl exit %d: %s", flow, len(pcap), code, v[0])
		return v[0], stdout.String(), code
	}

	// flowTo is the flow from sleep.legacy to port of to's pod.
	flowTo := func(t *testing.T, to *corev1.Pod, port int) wire.Flow {
		t.Helper()
		flow, err := wire.PodFlow(client, to, port)
		if err != nil {
			t.Fatal(err)
		}
		return flow
	}

	t.Run("plaintext HTTP: canary seen", func(t *testing.T) {
		flow := flowTo(t, server, 8000)
		canary := wire.NewCanary()
		v, out, code := capture(t, capturer, flow, wire.Filter([]wire.Flow{flow}), canary,
			"curl", "-sS", "--max-time", "10", "http://httpbin.legacy:8000/anything/"+canary)
		if code != 0 || !strings.Contains(out, canary) {
			t.Fatalf("curl exit %d, body %.200q", code, out)
		}
		if v.Kind != wire.Plaintext || !strings.Contains(v.Detail, "request") {
			t.Errorf("%s, want plaintext (canary in the request)", v)
		}
	})

	t.Run("TLS: no canary, a ClientHello", func(t *testing.T) {
		tlsPod := startTLSHttpbin(t, kube)
		flow := flowTo(t, tlsPod, 8443)
		canary := wire.NewCanary()
		v, out, code := capture(t, capturer, flow, wire.Filter([]wire.Flow{flow}), canary,
			"curl", "-sS", "-k", "--max-time", "10", fmt.Sprintf("https://%s:8443/anything/%s", tlsPod.Status.PodIP, canary))
		if code != 0 || !strings.Contains(out, canary) {
			t.Fatalf("curl exit %d, body %.200q: the request must have carried the canary", code, out)
		}
		if v.Kind != wire.TLS || !v.Handshake || strings.Join(v.ALPN, ",") != "h2,http/1.1" || v.IstioALPN() {
			t.Errorf("%s (handshake %v, ALPN %q), want TLS with curl's ClientHello offering h2,http/1.1", v, v.Handshake, v.ALPN)
		}
	})

	t.Run("TCP echo: echo received, canary seen", func(t *testing.T) {
		flow := flowTo(t, server, 9000)
		canary := wire.NewCanary()
		// gopher:// sends the path after "/_" and a CRLF, then prints what comes back; Istio's
		// echo keeps the connection open, so curl ends at --max-time (exit 28) with the echo read.
		v, out, code := capture(t, capturer, flow, wire.Filter([]wire.Flow{flow}), canary,
			"curl", "-sS", "--max-time", "2", "gopher://httpbin.legacy:9000/_"+canary)
		if code != 28 || !strings.Contains(out, "hello "+canary) {
			t.Fatalf("curl exit %d, output %q: want exit 28 with the echo %q", code, out, "hello "+canary)
		}
		if v.Kind != wire.Plaintext {
			t.Errorf("%s, want plaintext", v)
		}
	})

	t.Run("broken capture: nothing captured is an infrastructure error", func(t *testing.T) {
		flow := flowTo(t, server, 8000)
		lo, err := wire.NewCapturer(w.Config, image, capturer.Labels)
		if err != nil {
			t.Fatal(err)
		}
		lo.Interface = "lo"
		argv := func(canary string) []string {
			return []string{"curl", "-sS", "--max-time", "10", "http://httpbin.legacy:8000/anything/" + canary}
		}
		c1 := wire.NewCanary()
		if v, _, code := capture(t, lo, flow, wire.Filter([]wire.Flow{flow}), c1, argv(c1)...); v.Kind != wire.NothingCaptured || code != 0 {
			t.Errorf("tcpdump on lo: %s (curl exit %d), want nothing-captured", v, code)
		}
		other := wire.Flow{Client: flow.Client, Server: flow.Server}
		other.Server = netipWithPort(t, "10.255.255.1", 8000)
		c2 := wire.NewCanary()
		if v, _, _ := capture(t, capturer, flow, wire.Filter([]wire.Flow{other}), c2, argv(c2)...); v.Kind != wire.NothingCaptured {
			t.Errorf("filter naming another host: %s, want nothing-captured", v)
		}
		bad, _ := wire.NewCapturer(w.Config, image, capturer.Labels)
		bad.Interface = "mtls-no-such-if0"
		_, err = bad.Start(ctx, node, wire.Filter([]wire.Flow{flow}))
		if !errors.Is(err, wire.ErrCapture) || !strings.Contains(err.Error(), "mtls-no-such-if0") {
			t.Errorf("tcpdump on a missing interface: %v, want ErrCapture with tcpdump's words", err)
		} else {
			t.Logf("missing interface: %v", err)
		}
	})
}

func podOf(t *testing.T, kube kubernetes.Interface, ns, selector string) *corev1.Pod {
	t.Helper()
	pods, err := kube.CoreV1().Pods(ns).List(ctxFor(t, time.Minute), metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.PodIP == "" {
		t.Fatalf("pod %s in %s: %v (%d pods)", selector, ns, err, len(pods.Items))
	}
	return &pods.Items[0]
}

// loadCaptureImage imports the capture image (CAPTURE_IMAGE, built by make kind-images) into the
// node's containerd, as kind load does: the local tier pulls nothing.
func loadCaptureImage(t *testing.T, node string) string {
	t.Helper()
	image, err := cfg.CaptureImageRef()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `docker save "$1" | docker exec -i "$2" ctr -n k8s.io images import --all-platforms -`, "sh", image, node)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loading %s into %s: %v: %s", image, node, err, out)
	}
	return image
}

// startTLSHttpbin runs go-httpbin (the fixture's image) serving HTTPS on 8443 with a self-signed
// certificate, in a namespace of its own labelled as the suite's, and returns its Ready pod.
func startTLSHttpbin(t *testing.T, kube kubernetes.Interface) *corev1.Pod {
	t.Helper()
	ctx := ctxFor(t, 3*time.Minute)
	const ns = "mtls-wire-tls"
	labels := map[string]string{meshlabels.ManagedByLabel: meshlabels.ManagedByValue, meshlabels.RunIDLabel: "wire-test"}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_ = kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		_ = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})
	certPEM, keyPEM := selfSigned(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "httpbin-tls", Namespace: ns, Labels: labels},
		Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM}}
	if _, err := kube.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	images, err := fixtures.RunImages(mustVariant(t))
	if err != nil || len(images) == 0 {
		t.Fatalf("fixture images: %v", err)
	}
	zero := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "httpbin-tls", Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: "httpbin", Image: images[0], ImagePullPolicy: corev1.PullIfNotPresent,
				Command:      []string{"/bin/go-httpbin", "-port", "8443", "-https-cert-file", "/tls/tls.crt", "-https-key-file", "/tls/tls.key"},
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: "/tls"}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: "/status/200", Port: intstr8443, Scheme: corev1.URISchemeHTTPS}}},
			}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "httpbin-tls"}}}},
		},
	}
	if !strings.Contains(images[0], "go-httpbin") {
		t.Fatalf("first fixture image %s is not go-httpbin", images[0])
	}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ready *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := kube.CoreV1().Pods(ns).Get(ctx, "httpbin-tls", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.Status.PodIP != "" {
				ready = p
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("TLS httpbin not Ready: %v", err)
	}
	return ready
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	c := certtest.Issue(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "httpbin-tls"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"httpbin-tls"}}, nil)
	return c.CertPEM(), c.KeyPEM(t)
}

var intstr8443 = intstr.FromInt32(8443)

func netipWithPort(t *testing.T, addr string, port uint16) netip.AddrPort {
	t.Helper()
	return netip.AddrPortFrom(netip.MustParseAddr(addr), port)
}
