// Package fakecurl answers the probe engine's curl command lines the way curl prints its results,
// for tests whose executors stand in for a cluster: one request (probe.Command), or several joined
// by --next (probe.BatchCommand), each request's body followed by its own -w output with
// %{http_code}, %{exitcode} and %{errormsg} filled in. Test-only (suites/imports_test.go).
package fakecurl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
)

// Response is what one request gets: the body curl received, the status (0: none), curl's exit
// code for the request and its error message.
type Response struct {
	Body         string
	HTTPCode     int
	ExitCode     int
	ErrorMessage string
}

// Render runs argv as curl would against answer, which gets each request's URL. The process's
// exit code is the last request's, as curl's is; stderr holds each failed request's error line.
// An answer's error is the exec's error (nothing ran).
func Render(argv []string, answer func(url string) (Response, error)) (probe.ExecResult, error) {
	var res probe.ExecResult
	var stdout, stderr strings.Builder
	for _, request := range requests(argv) {
		writeOut := ""
		if i := slices.Index(request, "-w"); i >= 0 && i+1 < len(request) {
			writeOut = request[i+1]
		}
		r, err := answer(request[len(request)-1])
		if err != nil {
			return probe.ExecResult{}, err
		}
		stdout.WriteString(r.Body)
		stdout.WriteString(strings.NewReplacer(`\n`, "\n", "%{http_code}", fmt.Sprintf("%03d", r.HTTPCode),
			"%{exitcode}", fmt.Sprint(r.ExitCode), "%{errormsg}", r.ErrorMessage).Replace(writeOut))
		if r.ExitCode != 0 {
			fmt.Fprintf(&stderr, "curl: (%d) %s\n", r.ExitCode, r.ErrorMessage)
		}
		res.ExitCode = r.ExitCode
	}
	res.Stdout, res.Stderr = []byte(stdout.String()), []byte(stderr.String())
	return res, nil
}

// requests splits a command line at --next into each request's arguments.
func requests(argv []string) [][]string {
	var out [][]string
	start := 0
	for i, a := range argv {
		if a == "--next" {
			out = append(out, argv[start:i])
			start = i + 1
		}
	}
	return append(out, argv[start:])
}
