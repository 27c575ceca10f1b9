package fakecurl

import (
	"context"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
)

// TestRenderIsWhatTheEngineReads: a batch rendered here is observed by the engine as each
// request's own answer — the body, status and exit code per request, in order.
func TestRenderIsWhatTheEngineReads(t *testing.T) {
	client := fixtures.Workload{Ref: fixtures.Ref{Name: "sleep", Namespace: "legacy"}}
	targets := []probe.Target{{Client: client, Host: "httpbin.foo", Port: 8000}, {Client: client, Host: "httpbin.bar", Port: 8000}}
	answers := map[string]Response{
		targets[0].URL(): {Body: `{"headers": {"Host": ["httpbin.foo:8000"]}}`, HTTPCode: 200},
		targets[1].URL(): {ExitCode: 56, ErrorMessage: "Recv failure: Connection reset by peer"},
	}
	exec := executor(func(argv []string) (probe.ExecResult, error) {
		return Render(argv, func(url string) (Response, error) { return answers[url], nil })
	})
	obs := probe.OnceBatch(context.Background(), exec, targets, probe.Options{})
	if obs[0].Class() != probe.ResultOK || obs[0].Headers.Get("Host") != "httpbin.foo:8000" || obs[1].Class() != probe.ResultReset || !strings.Contains(obs[1].Stderr, "reset by peer") {
		t.Errorf("batch observed %s; %s", obs[0], obs[1])
	}
	one := probe.Once(context.Background(), exec, targets[1], probe.Options{})
	if one.Class() != probe.ResultReset || one.HTTPCode != 0 {
		t.Errorf("single request observed %s", one)
	}
}

type executor func(argv []string) (probe.ExecResult, error)

func (e executor) Exec(_ context.Context, _ fixtures.Workload, argv []string) (probe.ExecResult, error) {
	return e(argv)
}
