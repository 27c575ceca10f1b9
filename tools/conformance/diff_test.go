package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// testdata/diff holds two recorded runs of the same scenarios on Istio 1.30.5 (a.json) and
// 1.31.1 (b.json). Between them: an expectation changed (baseline sleep.legacy), a reset became
// plaintext (namespace-strict sleep.legacy:8000), an exec failed (curl.utilities), one scenario
// ran only in A and one only in B; and two probes differ only in what must not count — the
// client certificate hash (baseline sleep.foo) and curl's stderr text (sleep.legacy:8080).
const (
	diffA = "testdata/diff/a.json"
	diffB = "testdata/diff/b.json"
)

func TestDiffTable(t *testing.T) {
	out, errOut, code := runCLI(t, "diff", diffA, diffB)
	if code != 1 || errOut != "" {
		t.Fatalf("exit %d, stderr %q; want 1 (changes) and nothing on stderr", code, errOut)
	}
	want := `A: testdata/diff/a.json (run 20261104T020000Z-0a1b2c, Istio 1.30.5)
B: testdata/diff/b.json (run 20261105T020000Z-3d4e5f, Istio 1.31.1)

5 of 8 probes changed

SCENARIO          STEP                      PROBE                              A                B
baseline          no policy                 sleep.legacy → httpbin.foo:8000    ✔ 200            ✘ 200, want 000 (exit 56)
namespace-strict  foo STRICT                sleep.legacy → httpbin.foo:8000    ✔ 000 (exit 56)  ✘ 200, want 000 (exit 56)
namespace-strict  foo STRICT                curl.utilities → httpbin.foo:8000  ✔ 000 (exit 56)  ⚠ no result
dr-port-level     DestinationRule per port  sleep.foo → httpbin.legacy:8000    (not run)        ✔ 200
port-key-trap     service port key          sleep.legacy → httpbin.foo:9080    ✔ 200            (not run)

✔ pass · ✘ fail, then the expected outcome · ⚠ infrastructure error · – skipped · 🔒 mutual TLS
`
	if out != want {
		t.Fatalf("table:\n%s\nwant:\n%s", out, want)
	}
}

func TestDiffJSON(t *testing.T) {
	// Flags may follow the files.
	out, errOut, code := runCLI(t, "diff", diffA, diffB, "-o", "json")
	if code != 1 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var doc diffDocument
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Compared != 8 || doc.A.IstioVersion != "1.30.5" || doc.B.IstioVersion != "1.31.1" || doc.A.Path != diffA {
		t.Fatalf("document header %+v %+v compared=%d", doc.A, doc.B, doc.Compared)
	}
	var got []string
	for _, c := range doc.Changes {
		got = append(got, c.Scenario+" "+c.From.String()+"→"+c.To.String()+":"+strconv.Itoa(c.Port)+" "+c.Change)
	}
	want := []string{
		"baseline sleep.legacy→httpbin.foo:8000 changed",
		"namespace-strict sleep.legacy→httpbin.foo:8000 changed",
		"namespace-strict curl.utilities→httpbin.foo:8000 changed",
		"dr-port-level sleep.foo→httpbin.legacy:8000 only-in-b",
		"port-key-trap sleep.legacy→httpbin.foo:9080 only-in-a",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	reset := doc.Changes[1]
	if reset.A.Verdict != report.VerdictPass || reset.A.Observed.ExitCode != 56 ||
		reset.B.Verdict != report.VerdictFail || reset.B.Observed.HTTPCode != 200 || reset.B.Observed.ExitCode != 0 ||
		!strings.HasPrefix(reset.B.Message, "sleep.legacy → httpbin.foo:8000 did not converge") {
		t.Fatalf("reset change %+v / %+v", reset.A, reset.B)
	}
	if infra := doc.Changes[2]; infra.B.Verdict != report.VerdictInfraError || infra.B.Observed != nil {
		t.Fatalf("infrastructure change %+v", infra.B)
	}
	if onlyB := doc.Changes[3]; onlyB.A != nil || onlyB.B == nil {
		t.Fatalf("only-in-b sides %+v %+v", onlyB.A, onlyB.B)
	}
	// The JSON document's field names are stable.
	for _, field := range []string{`"a":`, `"b":`, `"compared":`, `"changes":`, `"change": "only-in-a"`, `"runId":`, `"istioVersion":`, `"verdict":`, `"expected":`, `"observed":`} {
		if !strings.Contains(out, field) {
			t.Errorf("JSON lacks %s", field)
		}
	}
}

func TestDiffIgnoresCertificateHashAndStderr(t *testing.T) {
	a, err := report.ReadResults(diffA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := report.ReadResults(diffB)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture really has these differences, so the test can fail.
	if a.Probes[0].Observed.XFCC.Hash == b.Probes[0].Observed.XFCC.Hash {
		t.Fatal("testdata: baseline sleep.foo should differ in hash")
	}
	for _, c := range compareRuns(a, b) {
		if c.Scenario == "baseline" && c.From.Name == "sleep" && c.From.Namespace == "foo" {
			t.Error("a certificate hash change is not an outcome change")
		}
		if c.Port == 8080 {
			t.Error("a stderr text change is not an outcome change")
		}
	}
}

func TestDiffIdenticalRuns(t *testing.T) {
	out, errOut, code := runCLI(t, "diff", diffA, diffA)
	if code != 0 || errOut != "" || !strings.HasSuffix(out, "\nno probe changed (7 compared)\n") {
		t.Fatalf("exit %d, stderr %q, out:\n%s", code, errOut, out)
	}
	out, _, code = runCLI(t, "diff", "-o", "json", diffA, diffA)
	if code != 0 || !strings.Contains(out, `"changes": []`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// The report package's recorded run (180 probes) against a copy with one observation changed:
// exactly that probe is listed; a run folder stands for its results.json.
func TestDiffRecordedRunOneChange(t *testing.T) {
	recorded := "../../suites/framework/report/testdata/results.json"
	res, err := report.ReadResults(recorded)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(res.Probes, func(p report.ProbeRecord) bool {
		return p.Scenario == "migration" && p.Verdict == report.VerdictPass && p.Observed.MTLS
	})
	if i < 0 {
		t.Fatal("testdata has no passing mTLS probe in migration")
	}
	changed := res.Probes[i]
	res.Probes[i].Observed = &report.Observed{ExitCode: 0, HTTPCode: 503}
	res.Probes[i].Verdict = report.VerdictFail
	data, err := res.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(t.TempDir(), "20261106T101500Z-abcdef")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runDir, report.ResultsFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "diff", "-o", "json", recorded, runDir)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc diffDocument
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Compared != 180 || len(doc.Changes) != 1 {
		t.Fatalf("compared %d, %d changes; want 180 and 1", doc.Compared, len(doc.Changes))
	}
	c := doc.Changes[0]
	if c.Scenario != changed.Scenario || c.Step != changed.Step || c.From != changed.From || c.To != changed.To || c.Port != changed.Port || c.B.Observed.HTTPCode != 503 {
		t.Fatalf("change %+v, want %s", c, changed.Key())
	}
	if doc.B.Path != filepath.Join(runDir, report.ResultsFile) {
		t.Fatalf("B path %q", doc.B.Path)
	}
	// reports/latest as a file naming the run (where symlinks fail) stands for that run too.
	latest := filepath.Join(filepath.Dir(runDir), report.LatestName)
	if err := os.WriteFile(latest, []byte(filepath.Base(runDir)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, "diff", recorded, latest)
	if code != 1 || errOut != "" || !strings.Contains(out, "1 of 180 probes changed") {
		t.Fatalf("diff against reports/latest (file): exit %d, %s\n%s", code, errOut, out)
	}
}

func TestDiffBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notJSON := write("not.json", "<testsuites/>")
	future := write("v2.json", `{"schemaVersion": 2, "header": {}, "probes": []}`)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"diff", diffA}, "conformance diff: want two results files, A and B (e.g. reports/<run>/results.json), got 1\n"},
		{[]string{"diff", diffA, diffB, diffA}, "conformance diff: want two results files, A and B (e.g. reports/<run>/results.json), got 3\n"},
		{[]string{"diff", diffA, filepath.Join(dir, "missing.json")}, "conformance diff: " + filepath.Join(dir, "missing.json") + ": open " + filepath.Join(dir, "missing.json") + ": no such file or directory\n"},
		{[]string{"diff", notJSON, diffB}, "conformance diff: " + notJSON + ": not a results file: invalid character '<' looking for beginning of value\n"},
		{[]string{"diff", diffA, future}, "conformance diff: " + future + ": schemaVersion 2 is not supported (want 1)\n"},
		{[]string{"diff", "-o", "yaml", diffA, diffB}, "conformance diff: -o \"yaml\": want table or json\n"},
		{[]string{"diff", "--color", diffA, diffB}, "conformance diff: flag provided but not defined: -color\n"},
	} {
		out, errOut, code := runCLI(t, tc.args...)
		if code != 2 || out != "" || errOut != tc.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing, %q", tc.args[1:], code, out, errOut, tc.want)
		}
	}
}
