package probe

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Batching. One exec costs a kind node about 200 ms of CPU (API server, kubelet, containerd, runc:
// README "Performance"), so a 36-probe matrix with one exec per probe and attempt is CPU-bound at
// about ten times one probe. A round of the matrix therefore runs one exec per client: a single
// curl making that client's requests one after another. --next starts a new set of options for
// the next URL (curl docs/cmdline-opts/next.md), so every request keeps the exact options Command
// gives it, and each request's -w line names it and carries its own exit code (%{exitcode}, curl
// 7.75.0) and error message (%{errormsg}, curl 7.75.0): one request's failure does not end the
// others (curl goes on to the next URL unless --fail-early).

// requestMarker starts the -w line after each request's body in a batch:
// "<marker><index> <exit code> <HTTP code> <error message>".
const requestMarker = "mtls-conformance-request="

// BatchCommand is the command line of one batched exec: the targets' requests, in order, in one
// curl run in their (common) client.
func BatchCommand(targets []Target, o Options) []string {
	o = o.withDefaults()
	var argv []string
	for i, t := range targets {
		request := command(t, o, fmt.Sprintf(`\n%s%d %%{exitcode} %%{http_code} %%{errormsg}\n`, requestMarker, i))
		if i == 0 {
			argv = request
			continue
		}
		// "curl -q" once: -q only works as the first argument (curl docs/cmdline-opts/q.md).
		argv = append(append(argv, "--next"), request[2:]...)
	}
	return argv
}

// OnceBatch runs the targets' requests in one exec in their client (they must share it) and
// returns one observation per target, in order. An exec that could not run is an infrastructure
// error for every request; a request with no -w line (curl stopped before it) is one for it.
func OnceBatch(ctx context.Context, exec Executor, targets []Target, o Options) []*Observation {
	argv := BatchCommand(targets, o)
	start := time.Now()
	res, err := exec.Exec(ctx, targets[0].Client, argv)
	elapsed := time.Since(start)
	observations := make([]*Observation, len(targets))
	rest := res.Stdout
	for i := range targets {
		obs := &Observation{Duration: elapsed}
		observations[i] = obs
		if err != nil {
			obs.ExitCode, obs.Stderr = res.ExitCode, string(res.Stderr)
			obs.Err = fmt.Errorf("%w: %v", ErrInfrastructure, err)
			continue
		}
		var body string
		var line requestLine
		var ok bool
		if body, line, rest, ok = nextRequest(rest, i); !ok {
			obs.ExitCode, obs.Stderr = res.ExitCode, string(res.Stderr)
			obs.Err = fmt.Errorf("%w: %s printed no result line for request %d of %d (exit %d): %s", ErrInfrastructure, argv[0], i+1, len(targets), res.ExitCode, firstLine(obs.Stderr))
			continue
		}
		// Duration stays the exec's: when the request ran inside it is not known, and the exec
		// bounds it (a convergence's StableAfter is an attempt's start, as with Once).
		obs.ExitCode = line.exitCode
		if line.errorMessage != "" {
			obs.Stderr = fmt.Sprintf("curl: (%d) %s", line.exitCode, line.errorMessage)
		}
		obs.setResponse(body, line.httpCode)
	}
	return observations
}

// requestLine is one request's -w line in a batch.
type requestLine struct {
	exitCode, httpCode int
	errorMessage       string
}

// nextRequest splits request i's body and -w line off the front of stdout.
func nextRequest(stdout []byte, i int) (body string, line requestLine, rest []byte, ok bool) {
	marker := []byte("\n" + requestMarker + strconv.Itoa(i) + " ")
	at := bytes.Index(stdout, marker)
	if at < 0 {
		return "", requestLine{}, stdout, false
	}
	text, rest, _ := bytes.Cut(stdout[at+len(marker):], []byte("\n"))
	fields := strings.SplitN(string(text), " ", 3)
	if len(fields) < 2 {
		return "", requestLine{}, stdout, false
	}
	exitCode, err1 := strconv.Atoi(fields[0])
	httpCode, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil {
		return "", requestLine{}, stdout, false
	}
	line = requestLine{exitCode: exitCode, httpCode: httpCode}
	if len(fields) == 3 {
		line.errorMessage = strings.TrimSpace(fields[2])
	}
	return string(stdout[:at]), line, rest, true
}
