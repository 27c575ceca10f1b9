package probe

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/xfcc"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/certtest"
)

// Real servers on 127.0.0.1 that produce each outcome class for a real curl.

const (
	serverID = "spiffe://cluster.local/ns/foo/sa/httpbin"
	clientID = "spiffe://cluster.local/ns/legacy/sa/sleep"
	// envoy503Body is what an Istio client sidecar answers when its upstream connection fails.
	envoy503Body = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
)

var sleepLegacy = fixtures.Workload{Ref: fixtures.Ref{Name: "sleep", Namespace: "legacy"}, Role: fixtures.RoleClient,
	PodLabels: map[string]string{"app": "sleep"}, Container: "sleep"}

// requireCurl fails (not skips) when curl is missing: these tests exist to run real curl.
func requireCurl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl is required for the probe tests: %v", err)
	}
}

// localTarget points the cluster-shaped URL http://httpbin.foo:<port>/headers at 127.0.0.1.
func localTarget(t *testing.T, addr string) Target {
	t.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatal(err)
	}
	return Target{Client: sleepLegacy, Host: "httpbin.foo", Port: port, Resolve: host}
}

// startHTTPBin serves the real go-httpbin over plain HTTP.
func startHTTPBin(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(httpbinHandler())
	t.Cleanup(srv.Close)
	return srv
}

func httpbinHandler() http.Handler { return httpbin.New().Handler() }

// start503 answers every request the way an Istio client sidecar does when it cannot reach
// the upstream.
func start503(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, envoy503Body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// listen opens a loopback listener whose connections are served by handle, one goroutine each;
// cleanup closes the listener and every connection and waits for the goroutines.
func listen(t *testing.T, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // listener closed by cleanup
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln
}

// resetConn closes with SO_LINGER 0, so the kernel sends RST instead of FIN: what curl sees
// when Envoy rejects a plaintext request on a STRICT port.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// startResetter reads each request in full, then resets the connection.
func startResetter(t *testing.T) net.Listener {
	return listen(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			c.Close()
			return
		}
		resetConn(c)
	})
}

// startBlackHole accepts connections and never reads or answers: curl hits --max-time.
func startBlackHole(t *testing.T) net.Listener {
	return listen(t, func(net.Conn) {})
}

// pki is a test CA with a server and a client certificate shaped like Istio's: empty subject,
// SPIFFE ID as the URI SAN.
type pki struct {
	caFile, clientCertFile, clientKeyFile string
	clientDER                             []byte
	serverCert                            tls.Certificate
	pool                                  *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca := certtest.Issue(t, &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"mtls-conformance test CA"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}, nil)
	issue := func(serial int64, spiffe string, dns []string, usage x509.ExtKeyUsage) *certtest.Issued {
		return certtest.Issue(t, &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			URIs:         []*url.URL{certtest.URI(t, spiffe)},
			DNSNames:     dns,
		}, ca)
	}
	// curl checks the host name, so the server certificate also names httpbin.foo.
	server := issue(2, serverID, []string{"httpbin.foo"}, x509.ExtKeyUsageServerAuth)
	client := issue(3, clientID, nil, x509.ExtKeyUsageClientAuth)

	p := &pki{
		caFile:         filepath.Join(dir, "ca.pem"),
		clientCertFile: filepath.Join(dir, "client.pem"),
		clientKeyFile:  filepath.Join(dir, "client-key.pem"),
		clientDER:      client.DER,
		serverCert:     tls.Certificate{Certificate: [][]byte{server.DER}, PrivateKey: server.Key},
		pool:           x509.NewCertPool(),
	}
	p.pool.AddCert(ca.Cert)
	writePEM(t, p.caFile, "CERTIFICATE", ca.DER)
	writePEM(t, p.clientCertFile, "CERTIFICATE", client.DER)
	keyDER, err := x509.MarshalECPrivateKey(client.Key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, p.clientKeyFile, "EC PRIVATE KEY", keyDER)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientTLS is curl's configuration for presenting the test client certificate.
func (p *pki) clientTLS() *ClientTLS {
	return &ClientTLS{CAFile: p.caFile, CertFile: p.clientCertFile, KeyFile: p.clientKeyFile}
}

// startXFCCFront terminates mutual TLS like a server sidecar (client certificates from the test
// CA required) and forwards to go-httpbin, adding X-Forwarded-Client-Cert as Envoy's
// APPEND_FORWARD with Subject and URI details writes it
// (envoyproxy/envoy source/common/http/conn_manager_utility.cc mutateXfccRequestHeader):
// By=<own URI SAN>;Hash=<hex SHA-256 of the client certificate DER>;Subject="<subject>";URI=<client URI SAN>.
// The header is built here by hand, independently of package xfcc, so the parser is checked
// against a writer it does not share code with.
func startXFCCFront(t *testing.T, p *pki, backend *httptest.Server) *httptest.Server {
	t.Helper()
	backendURL, err := url.Parse(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	serverLeaf, err := x509.ParseCertificate(p.serverCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	by := serverLeaf.URIs[0].String()
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(backendURL)
		peer := r.In.TLS.PeerCertificates[0]
		sum := sha256.Sum256(peer.Raw)
		uri := ""
		if len(peer.URIs) > 0 {
			uri = peer.URIs[0].String()
		}
		details := fmt.Sprintf("By=%s;Hash=%s;Subject=\"%s\";URI=%s", by, hex.EncodeToString(sum[:]), peer.Subject.String(), uri)
		if prev := r.In.Header.Get(xfcc.Header); prev != "" {
			details = prev + "," + details
		}
		r.Out.Header.Set(xfcc.Header, details)
	}}
	srv := httptest.NewUnstartedServer(proxy)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{p.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
	}
	// Rejected handshakes are expected in the TLS failure test: log them with the test.
	srv.Config.ErrorLog = log.New(testWriter{t}, "xfcc front: ", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// testWriter sends a server's log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// okOrReset is an httpbin server while ok() holds for a request, and resets the request's
// connection when it does not.
func okOrReset(t *testing.T, ok func() bool) *httptest.Server {
	t.Helper()
	bin := httpbinHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok() {
			bin.ServeHTTP(w, r)
			return
		}
		if err := hijackReset(w); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hijackReset answers a request by resetting its connection.
func hijackReset(w http.ResponseWriter) error {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return errors.New("response writer cannot hijack")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return err
	}
	resetConn(c)
	return nil
}
