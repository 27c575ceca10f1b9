package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const recordedDump = "../../suites/framework/authcheck/testdata/port-level_httpbin.foo.json"

func TestAuthcheckFromDumpFile(t *testing.T) {
	out, errOut, code := runCLI(t, "authcheck", "-f", recordedDump)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"LISTENER CERTIFICATE mTLS (MODE)",
		"10.244.1.11_8000 default yes (STRICT)",
		"10.244.1.11_8080 none no (DISABLE)",
		"HOST:PORT CERTIFICATE VALIDATE PEER SENDS",
		"spiffe://cluster.local/ns/foo/sa/httpbin 2026-11-02T09:00:00Z 2026-11-03T09:00:00Z 24h0m0s O=cluster.local",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, errOut, code = runCLI(t, "authcheck", "-f", recordedDump, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc []struct {
		Inbound []struct {
			Port int    `json:"port"`
			Mode string `json:"mode"`
		} `json:"inbound"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(doc) != 1 || len(doc[0].Inbound) != 3 || doc[0].Inbound[1].Port != 8080 || doc[0].Inbound[1].Mode != "DISABLE" {
		t.Errorf("JSON = %s", out)
	}
}

func TestAuthcheckBadInput(t *testing.T) {
	dir := t.TempDir()
	// A kubeconfig whose server refuses connections: one line, exit 1 (bad input is exit 2).
	unreachable := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(unreachable, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: secret-token-never-printed}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "dump.json")
	if err := os.WriteFile(garbage, []byte(`{"configs": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unreachable cluster", []string{"authcheck", "--kubeconfig", unreachable}, 1, "is unreachable"},
		{"missing kubeconfig", []string{"authcheck", "--kubeconfig", filepath.Join(dir, "nope")}, 2, "kubeconfig not found: " + filepath.Join(dir, "nope")},
		{"unknown context", []string{"authcheck", "--kubeconfig", unreachable, "--context", "other"}, 2, `context "other" is not in kubeconfig`},
		{"pod without namespace", []string{"authcheck", "--kubeconfig", unreachable, "httpbin-0"}, 2, "needs -n NAMESPACE"},
		{"two pods", []string{"authcheck", "-n", "foo", "a", "b"}, 2, "one POD at most"},
		{"bad output", []string{"authcheck", "-o", "yaml"}, 2, `-o "yaml"`},
		{"unreadable dump", []string{"authcheck", "-f", garbage}, 2, "config dump"},
		{"missing dump", []string{"authcheck", "-f", filepath.Join(dir, "nope.json")}, 2, "nope.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout not empty: %q", out)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, tc.msg) {
				t.Errorf("stderr = %q, want one line containing %q", errOut, tc.msg)
			}
			if strings.Contains(errOut, "secret-token-never-printed") {
				t.Errorf("stderr leaks the kubeconfig token: %q", errOut)
			}
		})
	}
}

func TestAuthcheckPodAfterFlags(t *testing.T) {
	// POD may precede flags, kubectl style: the flags after it still count.
	_, errOut, code := runCLI(t, "authcheck", "httpbin-0", "-o", "yaml")
	if code != 2 || !strings.Contains(errOut, `-o "yaml"`) {
		t.Errorf("exit %d, stderr %q: flags after POD were not parsed", code, errOut)
	}
}
