package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantBadInput runs each case (a name and the command line) as a subtest and wants bad input's
// answer: exit 2, nothing on stdout, exactly one line on stderr, starting with prefix.
func wantBadInput(t *testing.T, prefix string, cases map[string][]string) {
	t.Helper()
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := runCLI(t, args...)
			if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, prefix) {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
}

// predictJSON runs `predict -o json` with args and returns its output and its probes, failing
// the test unless it exits 0 with predict's JSON document.
func predictJSON(t *testing.T, args ...string) (string, []map[string]any) {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"predict", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Probes []map[string]any `json:"probes"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	return out, doc.Probes
}

const strictFoo = "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: foo}\nspec: {mtls: {mode: STRICT}}\n"

func TestPredictJSON(t *testing.T) {
	out, probes := predictJSON(t, "-f", writeFile(t, strictFoo))
	if len(probes) != 36 {
		t.Fatalf("%d probes, want 36", len(probes))
	}
	find := func(from, to string, port float64) map[string]any {
		for _, p := range probes {
			if p["from"] == from && p["to"] == to && p["port"] == port {
				return p
			}
		}
		t.Fatalf("no probe %s → %s:%v", from, to, port)
		return nil
	}
	reset, _ := json.Marshal(find("sleep.legacy", "httpbin.foo", 8000))
	if string(reset) != `{"exitCode":56,"from":"sleep.legacy","httpCode":0,"mtls":false,"port":8000,"to":"httpbin.foo"}` {
		t.Fatalf("reset probe = %s", reset)
	}
	mtls, _ := json.Marshal(find("sleep.bar", "httpbin.foo", 8080))
	if string(mtls) != `{"exitCode":0,"from":"sleep.bar","httpCode":200,"mtls":true,"port":8080,"to":"httpbin.foo","xfcc":{"by":"spiffe://cluster.local/ns/foo/sa/httpbin","uri":"spiffe://cluster.local/ns/bar/sa/sleep"}}` {
		t.Fatalf("mTLS probe = %s", mtls)
	}
	// Field order on the wire is stable (struct order), as the example shows.
	if !strings.Contains(out, "\"from\": \"sleep.foo\",\n      \"to\": \"httpbin.foo\",\n      \"port\": 8000,\n      \"exitCode\": 0,\n      \"httpCode\": 200,\n      \"mtls\": true,\n      \"xfcc\"") {
		t.Fatalf("unexpected field order:\n%s", out[:300])
	}
}

func TestPredictBaselineAndInject(t *testing.T) {
	// No -f is the baseline; an empty file is an error (predict_test.go TestPredictSaysWhatTheInputIs).
	noFile, _, _ := runCLI(t, "predict", "-o", "json")
	if strings.Contains(noFile, `"httpCode": 0`) {
		t.Fatal("no -f must predict the baseline, where nothing fails")
	}
	out, _, code := runCLI(t, "predict", "-o", "json", "-f", writeFile(t, strictFoo), "--inject", "utilities")
	if code != 0 || !strings.Contains(out, `"uri": "spiffe://cluster.local/ns/utilities/sa/curl"`) {
		t.Fatalf("--inject utilities should give curl.utilities an mTLS identity:\n%s", out)
	}
	table, _, _ := runCLI(t, "predict", "-f", writeFile(t, strictFoo))
	for _, want := range []string{"sleep.legacy    000 (exit 56)", "curl.utilities  000 (exit 56)        000 (exit 56)        000 (exit 56)        200 ", "200 🔒", "httpbin.legacy:9080"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

// TestPredictBadInput: one line on stderr, exit 2, nothing on stdout.
func TestPredictBadInput(t *testing.T) {
	cases := map[string][]string{
		"invalid policy": {"predict", "-f", writeFile(t, "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: foo}\nspec: {portLevelMtls: {8080: {mode: STRICT}}}\n")},
		"missing file":   {"predict", "-f", "/nonexistent.yaml"},
		"bad output":     {"predict", "-o", "xml"},
		"bad namespace":  {"predict", "--inject", "nope"},
		"bad flag":       {"predict", "--nope"},
		"stray argument": {"predict", "extra"},
		"v1alpha1":       {"predict", "-f", writeFile(t, "apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: default, namespace: foo}\n")},
		"SIMPLE tls":     {"predict", "-f", writeFile(t, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d, namespace: foo}\nspec: {host: httpbin, trafficPolicy: {tls: {mode: SIMPLE}}}\n")},
		"bad engine":     {"predict", "--engine", "magic"},
		"trust domain":   {"predict", "--trust-domain", "spiffe://cluster.local"},
		"empty domain":   {"predict", "--trust-domain="},
	}
	wantBadInput(t, "conformance predict: ", cases)
}

func TestScenariosList(t *testing.T) {
	out, _, code := runCLI(t, "scenarios")
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"baseline", "mesh-strict", "migration", "utilities-injection", "port-key-trap"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %s", want)
		}
	}
	js, _, _ := runCLI(t, "scenarios", "-o", "json")
	var rows []scenarioRow
	if err := json.Unmarshal([]byte(js), &rows); err != nil || len(rows) < 16 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
}

func TestConvertCommand(t *testing.T) {
	out, errOut, code := runCLI(t, "convert", "-f", "../../scenarios/convert/testdata/seed002-hipster.yaml")
	want, _ := os.ReadFile("../../scenarios/convert/testdata/seed002-hipster.converted.yaml")
	if code != 0 || out != string(want) {
		t.Fatalf("exit %d %s\n%s", code, errOut, out)
	}
	_, errOut, code = runCLI(t, "convert", "-f", writeFile(t, "apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: j, namespace: foo}\nspec: {origins: [{jwt: {issuer: x}}]}\n"))
	if code != 2 || !strings.Contains(errOut, "RequestAuthentication") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "convert", "-f", writeFile(t, "apiVersion: authentication.istio.io/v1alpha1\nkind: Policy\nmetadata: {name: t, namespace: foo}\nspec: {targets: [{name: httpbin}], peers: [{mtls: {}}]}\n"), "--selector", "httpbin=app=httpbin")
	if code != 0 {
		t.Fatalf("exit %d %q", code, errOut)
	}
}

func TestUnknownCommand(t *testing.T) {
	_, errOut, code := runCLI(t, "frobnicate")
	if code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("exit %d %q", code, errOut)
	}
}

// TestHelp: help, -h and --help print the usage on stdout and exit 0, with one usage line per
// command ("  conformance NAME ...").
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		out, errOut, code := runCLI(t, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for name, cmd := range commands {
			var lines []string
			for _, line := range strings.Split(out, "\n") {
				if line == "  conformance "+name || strings.HasPrefix(line, "  conformance "+name+" ") {
					lines = append(lines, line)
				}
			}
			if len(lines) != 1 || lines[0] != "  conformance "+cmd.usage {
				t.Errorf("%v: usage lines for %s = %q, want exactly %q", args, name, lines, "  conformance "+cmd.usage)
			}
		}
	}
}

// TestCommandHelp: every command's -h, --help and `help COMMAND` print its usage line and flags
// on stdout and exit 0.
func TestCommandHelp(t *testing.T) {
	for name, cmd := range commands {
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			out, errOut, code := runCLI(t, args...)
			if code != 0 || errOut != "" || !strings.HasPrefix(out, "usage: conformance "+cmd.usage+"\n") {
				t.Errorf("%v: exit %d, stderr %q, stdout %q", args, code, errOut, out)
			}
		}
	}
	out, _, _ := runCLI(t, "predict", "-h")
	if !strings.Contains(out, "-trust-domain") {
		t.Errorf("predict -h lacks its flags:\n%s", out)
	}
}

// TestBadInputEverywhere: for every command, bad input (no or unknown command, unknown flag, bad
// value, missing file, stray argument) is exactly one line on stderr, nothing on stdout, exit 2.
func TestBadInputEverywhere(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	garbage := writeFile(t, `{"configs": [`)
	cases := map[string][]string{
		"no command":        {},
		"unknown command":   {"frobnicate"},
		"unknown flag":      {"--frobnicate"},
		"help unknown":      {"help", "frobnicate"},
		"help two":          {"help", "predict", "diff"},
		"version arg":       {"version", "extra"},
		"versions istio":    {"versions", "--istio", "9.9.9"},
		"versions arg":      {"versions", "extra"},
		"versions flag":     {"versions", "--nope"},
		"scenarios output":  {"scenarios", "-o", "xml"},
		"convert no file":   {"convert"},
		"convert missing":   {"convert", "-f", missing},
		"diff one file":     {"diff", missing},
		"diff missing":      {"diff", missing, missing},
		"cluster":           {"cluster"},
		"cluster verb":      {"cluster", "create"},
		"cluster flag":      {"cluster", "delete", "--name"},
		"authcheck dump":    {"authcheck", "-f", missing},
		"authcheck garbage": {"authcheck", "-f", garbage},
		"authcheck kubecfg": {"authcheck", "--kubeconfig", missing},
		"preflight flag":    {"preflight", "--nope"},
	}
	for name := range commands {
		cases[name+" unknown flag"] = []string{name, "--frobnicate"}
	}
	wantBadInput(t, "conformance", cases)
}

// TestVersion: the tool's version, then the pins it was built with, from package versions.
func TestVersion(t *testing.T) {
	out, errOut, code := runCLI(t, "version")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "conformance ") {
		t.Errorf("first line %q does not name the tool's version", lines[0])
	}
	for _, want := range []string{"default Istio: " + pins.DefaultIstio, "Istio releases: " + strings.Join(pins.IstioVersions(), " "), "kind: " + pins.Kind.Version} {
		if !slices.Contains(lines, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

// TestREADMEListsEveryCommand: the README's CLI block is the usage lines, one per command.
func TestREADMEListsEveryCommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n## The CLI\n")
	_, block, _ := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	var got, want []string
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		got = append(got, strings.TrimPrefix(line, "go run ./tools/conformance "))
	}
	for _, cmd := range commands {
		want = append(want, cmd.usage)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("README's CLI block:\n%s\nwant the usage lines:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
