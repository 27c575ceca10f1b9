package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// The kube executor is tested against a fake API server on 127.0.0.1 that serves the two
// requests it makes: a pod list, and the pod exec subresource over the real streaming
// protocols (WebSocket v5.channel.k8s.io as the API server speaks it, k8s.io/apiserver
// pkg/util/proxy/websocket.go; SPDY v4.channel.k8s.io as the kubelet speaks it). The exec runs
// the requested command as a local process, so real curl probes real servers through the real
// client-go streaming code.

type fakeAPIServer struct {
	t    *testing.T
	pods []corev1.Pod
	// websocket false makes exec refuse the WebSocket upgrade, forcing the SPDY fallback.
	websocket bool
	// execStatus, when set, replaces running the command: the API server answers with it.
	execStatus *metav1.Status

	wsExecs, spdyExecs atomic.Int32
	mu                 sync.Mutex
	execs              []execRequest
}

type execRequest struct {
	namespace, pod, container string
	command                   []string
}

func (f *fakeAPIServer) start() *rest.Config {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods", f.listPods)
	mux.HandleFunc("/api/v1/namespaces/{ns}/pods/{name}/exec", f.exec)
	srv := httptest.NewServer(mux)
	f.t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func (f *fakeAPIServer) listPods(w http.ResponseWriter, r *http.Request) {
	selector, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range f.pods {
		if p.Namespace == r.PathValue("ns") && selector.Matches(labels.Set(p.Labels)) {
			list.Items = append(list.Items, p)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(&list)
}

func (f *fakeAPIServer) exec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := execRequest{namespace: r.PathValue("ns"), pod: r.PathValue("name"), container: q.Get("container"), command: q["command"]}
	f.mu.Lock()
	f.execs = append(f.execs, req)
	f.mu.Unlock()
	if q.Get("stdout") != "true" || q.Get("stderr") != "true" || q.Get("stdin") == "true" || q.Get("tty") == "true" {
		f.t.Errorf("exec options %v, want stdout and stderr only", q)
	}
	switch {
	case wsstream.IsWebSocketRequest(r) && f.websocket:
		f.wsExecs.Add(1)
		f.execWebSocket(w, r, req)
	case wsstream.IsWebSocketRequest(r):
		// What an API server without WebSocket exec answers: a non-101 response, which the
		// client reports as an upgrade failure.
		http.Error(w, "websocket exec disabled", http.StatusBadRequest)
	case r.Method == http.MethodPost && httpstream.IsUpgradeRequest(r):
		f.spdyExecs.Add(1)
		f.execSPDY(w, r, req)
	default:
		http.Error(w, "unexpected exec request", http.StatusBadRequest)
	}
}

// run executes the command and returns the status the API server would send on the error
// channel (k8s.io/client-go tools/remotecommand v4.go errorDecoderV4 reads it).
func (f *fakeAPIServer) run(req execRequest, stdout, stderr io.Writer) metav1.Status {
	if f.execStatus != nil {
		return *f.execStatus
	}
	cmd := exec.Command(req.command[0], req.command[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return metav1.Status{Status: metav1.StatusSuccess}
	case errors.As(err, &exitErr):
		return metav1.Status{
			Status:  metav1.StatusFailure,
			Reason:  remotecommandconsts.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", err),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
				{Type: remotecommandconsts.ExitCodeCauseType, Message: strconv.Itoa(exitErr.ExitCode())},
			}},
		}
	}
	return metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError, Message: err.Error()}
}

func (f *fakeAPIServer) execWebSocket(w http.ResponseWriter, r *http.Request, req execRequest) {
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		remotecommandconsts.StreamProtocolV5Name: {Binary: true, Channels: []wsstream.ChannelType{
			wsstream.IgnoreChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.ReadChannel,
		}},
	})
	// The server side logs "use of closed network connection" when it closes after the
	// status; that is this fake's teardown, not a finding, so its logger discards.
	_, streams, err := conn.Open(w, r.WithContext(klog.NewContext(r.Context(), logr.Discard())))
	if err != nil {
		f.t.Errorf("websocket open: %v", err)
		return
	}
	defer conn.Close()
	// The API server announces the connection with an empty write on stdout.
	if _, err := streams[remotecommandconsts.StreamStdOut].Write(nil); err != nil {
		f.t.Errorf("websocket: %v", err)
		return
	}
	status := f.run(req, streams[remotecommandconsts.StreamStdOut], streams[remotecommandconsts.StreamStdErr])
	data, _ := json.Marshal(&status)
	streams[remotecommandconsts.StreamErr].Write(data)
}

func (f *fakeAPIServer) execSPDY(w http.ResponseWriter, r *http.Request, req execRequest) {
	if _, err := httpstream.Handshake(r, w, []string{remotecommandconsts.StreamProtocolV4Name}); err != nil {
		f.t.Errorf("spdy handshake: %v", err)
		return
	}
	type newStream struct {
		stream    httpstream.Stream
		replySent <-chan struct{}
	}
	arrived := make(chan newStream, 8)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(s httpstream.Stream, replySent <-chan struct{}) error {
		arrived <- newStream{s, replySent}
		return nil
	})
	if conn == nil {
		f.t.Error("spdy upgrade failed")
		return
	}
	defer conn.Close()
	// Without stdin or a TTY the client opens exactly the error, stdout and stderr streams.
	byType := map[string]httpstream.Stream{}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for len(byType) < 3 {
		select {
		case s := <-arrived:
			<-s.replySent
			byType[s.stream.Headers().Get(corev1.StreamType)] = s.stream
		case <-timeout.C:
			f.t.Errorf("spdy: got streams %v, want error, stdout and stderr", byType)
			return
		}
	}
	status := f.run(req, byType[corev1.StreamTypeStdout], byType[corev1.StreamTypeStderr])
	byType[corev1.StreamTypeStdout].Close()
	byType[corev1.StreamTypeStderr].Close()
	if status.Status == metav1.StatusFailure {
		data, _ := json.Marshal(&status)
		byType[corev1.StreamTypeError].Write(data)
	}
	byType[corev1.StreamTypeError].Close()
}

func pod(name string, created time.Time, ready bool, mutate ...func(*corev1.Pod)) corev1.Pod {
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "legacy", Labels: map[string]string{"app": "sleep"},
			CreationTimestamp: metav1.NewTime(created)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "sleep"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: cond}}},
	}
	for _, m := range mutate {
		m(&p)
	}
	return p
}

// TestKubeExecutorProbes runs probes through the kube executor over WebSocket and, with
// WebSocket refused, over the SPDY fallback: curl's exit code arrives as CodeExitError.
func TestKubeExecutorProbes(t *testing.T) {
	requireCurl(t)
	now := time.Now()
	for _, websocket := range []bool{true, false} {
		t.Run(fmt.Sprintf("websocket=%t", websocket), func(t *testing.T) {
			t.Parallel()
			api := &fakeAPIServer{t: t, websocket: websocket, pods: []corev1.Pod{
				pod("sleep-old", now.Add(-time.Hour), true),
				pod("sleep-new", now, true),
				pod("sleep-newest-unready", now.Add(time.Minute), false),
				pod("sleep-terminating", now.Add(2*time.Minute), true, func(p *corev1.Pod) {
					p.DeletionTimestamp = &metav1.Time{Time: now}
				}),
				pod("sleep-other-ns", now.Add(3*time.Minute), true, func(p *corev1.Pod) { p.Namespace = "foo" }),
				pod("curl", now.Add(4*time.Minute), true, func(p *corev1.Pod) { p.Labels["app"] = "curl" }),
			}}
			kube, err := NewKubeExecutor(api.start())
			if err != nil {
				t.Fatal(err)
			}

			obs := Once(t.Context(), kube, localTarget(t, startHTTPBin(t).Listener.Addr().String()), fast)
			checkObservation(t, obs, ResultOK, 0, 200)
			if err := Match(outcome(t, scenarios.ClassPlaintext), obs); err != nil {
				t.Error(err)
			}
			obs = Once(t.Context(), kube, localTarget(t, startResetter(t).Addr().String()), fast)
			checkObservation(t, obs, ResultReset, 56, 0)
			if !strings.Contains(obs.Stderr, "(56)") {
				t.Errorf("stderr %q, want curl's error 56 streamed back", obs.Stderr)
			}

			if ws, sp := api.wsExecs.Load(), api.spdyExecs.Load(); (websocket && (ws != 2 || sp != 0)) || (!websocket && (ws != 0 || sp != 2)) {
				t.Errorf("exec served %d over WebSocket and %d over SPDY", ws, sp)
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			for _, e := range api.execs {
				// The newest pod that is ready and not terminating, in the client's namespace.
				if e.namespace != "legacy" || e.pod != "sleep-new" || e.container != "sleep" || e.command[0] != "curl" {
					t.Errorf("exec %+v, want curl in legacy/sleep-new container sleep", e)
				}
			}
		})
	}
}

func TestKubeExecutorInfrastructureErrors(t *testing.T) {
	now := time.Now()
	target := Target{Client: sleepLegacy, Host: "httpbin.foo", Port: 8000}
	cases := []struct {
		name string
		api  *fakeAPIServer
		want string
	}{
		{"no pod", &fakeAPIServer{}, "no pod of sleep.legacy (app=sleep) in namespace legacy"},
		{"no ready pod", &fakeAPIServer{pods: []corev1.Pod{
			pod("sleep-a", now, false),
			pod("sleep-b", now, true, func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }),
			pod("sleep-c", now, true, func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now} }),
			pod("sleep-d", now, true, func(p *corev1.Pod) { p.Spec.Containers[0].Name = "other" }),
		}}, `no ready pod of sleep.legacy (app=sleep) in namespace legacy: sleep-a not Ready; sleep-b phase Pending; sleep-c terminating; sleep-d has no container "sleep"`},
		{"exec refused", &fakeAPIServer{websocket: true, pods: []corev1.Pod{pod("sleep-a", now, true)},
			execStatus: &metav1.Status{Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError,
				Message: `container "sleep" not found in pod "sleep-a"`}},
			`exec in legacy/sleep-a container "sleep": container "sleep" not found in pod "sleep-a"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.api.t = t
			kube, err := NewKubeExecutor(tc.api.start())
			if err != nil {
				t.Fatal(err)
			}
			obs := Once(t.Context(), kube, target, fast)
			if obs.Class() != ResultInfraError || !strings.Contains(obs.Err.Error(), tc.want) {
				t.Fatalf("observed %s, want an infrastructure error containing %q", obs, tc.want)
			}
		})
	}

	t.Run("API server down", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		cfg := &rest.Config{Host: srv.URL}
		srv.Close()
		kube, err := NewKubeExecutor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		res := Converge(t.Context(), kube, target, outcome(t, scenarios.ClassReset), Options{Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond})
		if !errors.Is(res.Err, ErrInfrastructure) || !errors.Is(res.Err, ErrNotConverged) || res.Last.Class() != ResultInfraError {
			t.Fatalf("err %v, want a not-converged infrastructure error", res.Err)
		}
		if !strings.Contains(res.Err.Error(), "list pods app=sleep in legacy") {
			t.Errorf("message lacks the failing API call:\n%v", res.Err)
		}
	})
}
