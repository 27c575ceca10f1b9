// Package probe turns "sleep.legacy → httpbin.foo:8000" into an observed outcome and compares
// it with the expected scenarios.Outcome. It runs curl in a client (through an Executor: a pod
// exec on a cluster, a local process in tests), parses what curl and httpbin's /headers report,
// classifies it, and converges: a probe passes when the expected outcome is seen N times in a row
// within a bounded time. It knows nothing about Ginkgo.
//
// The entry points are Converge (one probe) and RunMatrix (many: in rounds, one exec per client
// and round running that client's requests, batch.go).
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/xfcc"
)

// DefaultPath is go-httpbin's endpoint that echoes the request headers, so the response shows the
// X-Forwarded-Client-Cert header the server's sidecar added.
const DefaultPath = "/headers"

// Target is one request: curl, run in a client workload, to a Service host and port.
type Target struct {
	// Client is the workload curl runs in: the kube executor finds its pod by PodLabels["app"] in
	// its namespace and execs in Container.
	Client fixtures.Workload
	// Host is the Service's name.namespace, as the seed articles write it ("httpbin.foo").
	Host string
	Port int
	// Path defaults to DefaultPath.
	Path string
	// Resolve, when set, pins Host:Port to this IPv4 address (curl --resolve), so that a local
	// test reaches a server on 127.0.0.1 with the same URL a cluster probe uses.
	Resolve string
	// TLS, when set, makes curl speak HTTPS: used by local tests of the XFCC-writing TLS front.
	TLS *ClientTLS
}

// ClientTLS is curl's TLS configuration for a local HTTPS target.
type ClientTLS struct {
	// CAFile verifies the server; CertFile and KeyFile, when set, are the client certificate.
	CAFile, CertFile, KeyFile string
	// MaxVersion, when set, is curl's --tls-max ("1.2").
	MaxVersion string
}

// String names the probe the way scenarios do: "sleep.legacy → httpbin.foo:8000".
func (t Target) String() string { return fmt.Sprintf("%s → %s:%d", t.Client.Ref, t.Host, t.Port) }

// URL is what curl requests: http://httpbin.<ns>:<port>/headers on a cluster.
func (t Target) URL() string {
	scheme, path := "http", t.Path
	if t.TLS != nil {
		scheme = "https"
	}
	if path == "" {
		path = DefaultPath
	}
	return fmt.Sprintf("%s://%s:%d%s", scheme, t.Host, t.Port, path)
}

// Command is the exact curl command line of one probe: BatchCommand with one request. curl
// reports the outcome itself: its exit code (56 when the server resets the connection, as the
// Istio docs show for plaintext into STRICT) and, through -w, the HTTP status (000 when no
// response arrived).
func Command(t Target, o Options) []string { return BatchCommand([]Target{t}, o) }

// command is curl's command line for one request with the given -w format; o has its defaults.
func command(t Target, o Options, writeOut string) []string {
	argv := []string{
		"curl",
		"-q",             // ignore any .curlrc: the command line is the whole configuration
		"-sS",            // no progress meter, but errors on stderr
		"--noproxy", "*", // a proxy would stand between the client and the server's sidecar
		"--connect-timeout", seconds(o.ConnectTimeout),
		"--max-time", seconds(o.MaxTime),
		"-w", writeOut,
	}
	if t.Resolve != "" {
		argv = append(argv, "--resolve", fmt.Sprintf("%s:%d:%s", t.Host, t.Port, t.Resolve))
	}
	if t.TLS != nil {
		if t.TLS.CAFile != "" {
			argv = append(argv, "--cacert", t.TLS.CAFile)
		}
		if t.TLS.CertFile != "" {
			argv = append(argv, "--cert", t.TLS.CertFile, "--key", t.TLS.KeyFile)
		}
		if t.TLS.MaxVersion != "" {
			argv = append(argv, "--tls-max", t.TLS.MaxVersion)
		}
	}
	return append(argv, t.URL())
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// Observation is what one curl run showed.
type Observation struct {
	// Attempt numbers the observation within a convergence (1-based); At is its start relative to
	// the first attempt.
	Attempt int
	At      time.Duration
	// Duration is how long the exec took, curl included.
	Duration time.Duration
	ExitCode int
	// HTTPCode is curl's %{http_code}: 0 when no response arrived.
	HTTPCode int
	// Body is the response body (httpbin's JSON, or Envoy's 503 text).
	Body string
	// Headers are the request headers httpbin echoed; nil when the body was not /headers JSON,
	// in which case HeadersErr says why.
	Headers    http.Header
	HeadersErr error
	// XFCC holds the X-Forwarded-Client-Cert values httpbin saw (nil: absent) and XFCCElements
	// their parse when there is exactly one value (XFCCErr when it does not parse).
	XFCC         []string
	XFCCElements []xfcc.Element
	XFCCErr      error
	Stderr       string
	// Err is an infrastructure error: curl could not be run, so nothing about mTLS was observed.
	Err error
}

// ErrInfrastructure marks failures that say nothing about mTLS: the exec could not run, the pod
// is missing or not ready, the API server refused, or what ran was not a working curl.
var ErrInfrastructure = errors.New("infrastructure error")

// Once runs one probe and parses what it shows (OnceBatch with one request). It never returns nil.
func Once(ctx context.Context, exec Executor, t Target, o Options) *Observation {
	return OnceBatch(ctx, exec, []Target{t}, o)[0]
}

// setResponse records what curl received: the body, the status and, from httpbin's /headers
// JSON, the request headers the server saw and their XFCC.
func (obs *Observation) setResponse(body string, httpCode int) {
	obs.Body, obs.HTTPCode = body, httpCode
	obs.Headers, obs.HeadersErr = parseHeaders(body)
	if obs.Headers != nil {
		obs.XFCC = obs.Headers.Values(xfcc.Header)
		if len(obs.XFCC) == 1 {
			obs.XFCCElements, obs.XFCCErr = xfcc.Parse(obs.XFCC[0])
		}
	}
}

// parseHeaders reads httpbin's /headers body, {"headers": {"Name": ...}}. go-httpbin writes each
// value as an array of strings (it marshals an http.Header); the kennethreitz/httpbin image the
// older docs used wrote one string per header. Both are accepted.
func parseHeaders(body string) (http.Header, error) {
	var doc struct {
		Headers map[string]json.RawMessage `json:"headers"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		return nil, fmt.Errorf("body is not httpbin's /headers JSON: %v", err)
	}
	if doc.Headers == nil {
		return nil, errors.New(`body has no "headers" object`)
	}
	h := make(http.Header, len(doc.Headers))
	for name, raw := range doc.Headers {
		var values []string
		if err := json.Unmarshal(raw, &values); err != nil {
			var one string
			if err := json.Unmarshal(raw, &one); err != nil {
				return nil, fmt.Errorf("header %q is neither a string nor an array of strings: %s", name, raw)
			}
			values = []string{one}
		}
		for _, v := range values {
			h.Add(name, v)
		}
	}
	return h, nil
}

// Class is the kind of outcome an observation shows, in the spirit of cilium-cli's connectivity
// results (ResultOK, ResultDrop, ...). Exit codes are curl's (curl/curl docs/libcurl/libcurl-errors.md).
type Class string

const (
	// ResultOK: exit 0, HTTP 200.
	ResultOK Class = "ok"
	// ResultHTTPError: exit 0 with another status, e.g. 503 from the client's sidecar.
	ResultHTTPError Class = "http-error"
	// ResultReset: exit 56, CURLE_RECV_ERROR: the connection was reset while receiving (HTTP 000).
	ResultReset Class = "reset"
	// ResultTimeout: exit 28, CURLE_OPERATION_TIMEDOUT: connect timeout or max time reached.
	ResultTimeout Class = "timeout"
	// ResultRefused: exit 7, CURLE_COULDNT_CONNECT: nothing listens, or the connection was refused.
	ResultRefused Class = "refused"
	// ResultTLSFailure: exit 35, CURLE_SSL_CONNECT_ERROR: the TLS handshake failed.
	ResultTLSFailure Class = "tls-failure"
	// ResultCurlError: any other curl exit code.
	ResultCurlError Class = "curl-error"
	// ResultInfraError: curl could not be run; nothing was observed.
	ResultInfraError Class = "infrastructure-error"
)

// Class classifies the observation.
func (o *Observation) Class() Class {
	switch {
	case o.Err != nil:
		return ResultInfraError
	case o.ExitCode == 0 && o.HTTPCode == http.StatusOK:
		return ResultOK
	case o.ExitCode == 0:
		return ResultHTTPError
	case o.ExitCode == 56:
		return ResultReset
	case o.ExitCode == 28:
		return ResultTimeout
	case o.ExitCode == 7:
		return ResultRefused
	case o.ExitCode == 35:
		return ResultTLSFailure
	}
	return ResultCurlError
}

// Outcome is the observation in the terms scenarios use, for side-by-side display. XFCC is filled
// from the parsed header when it holds one element.
func (o *Observation) Outcome() scenarios.Outcome {
	out := scenarios.Outcome{ExitCode: o.ExitCode, HTTPCode: o.HTTPCode, MTLS: len(o.XFCC) > 0}
	if len(o.XFCCElements) == 1 {
		e := o.XFCCElements[0]
		out.XFCC = &scenarios.XFCC{By: strings.Join(e.By, ","), URI: strings.Join(e.URI, ",")}
	}
	return out
}

// String renders the observation in scenarios.Outcome's format, plus its class.
func (o *Observation) String() string {
	if o.Err != nil {
		return fmt.Sprintf("%v [%s]", o.Err, o.Class())
	}
	s := fmt.Sprintf("exit %d, HTTP %03d", o.ExitCode, o.HTTPCode)
	switch out := o.Outcome(); {
	case o.HTTPCode == http.StatusOK && o.HeadersErr != nil:
		s += ", " + o.HeadersErr.Error()
	case len(o.XFCC) == 0:
		s += ", no XFCC"
	case out.XFCC != nil:
		s += fmt.Sprintf(", mTLS (By=%s, URI=%s)", out.XFCC.By, out.XFCC.URI)
	default:
		s += fmt.Sprintf(", XFCC %q", o.XFCC)
	}
	return fmt.Sprintf("%s [%s]", s, o.Class())
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if line == "" {
		return "(no stderr)"
	}
	return line
}
