package report

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewRunLayoutAndLatestSymlink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports") // created by NewRun
	first, err := NewRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d{8}T\d{6}Z-[0-9a-f]{6}$`).MatchString(first.ID) {
		t.Fatalf("run id %q is not <UTC timestamp>-<6 hex>", first.ID)
	}
	if first.Dir != filepath.Join(dir, first.ID) {
		t.Fatalf("run dir %s, want %s", first.Dir, filepath.Join(dir, first.ID))
	}
	if first.DiagnosticsDir() != filepath.Join(first.Dir, "diagnostics") {
		t.Fatalf("diagnostics dir %s", first.DiagnosticsDir())
	}
	second, err := NewRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Fatal("two runs got the same id")
	}
	target, err := os.Readlink(filepath.Join(dir, "latest"))
	if err != nil {
		t.Fatalf("latest is not a symlink: %v", err)
	}
	if target != second.ID {
		t.Fatalf("latest -> %s, want the newest run %s (relative)", target, second.ID)
	}
	got, err := Latest(dir)
	if err != nil || got != second.Dir {
		t.Fatalf("Latest = %q, %v; want %s", got, err, second.Dir)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".latest-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary links left behind: %v", leftovers)
	}
}

func TestLatestFallsBackToAFileWhereSymlinksFail(t *testing.T) {
	dir := t.TempDir()
	symlink = func(string, string) error { return errors.New("symlinks not supported") }
	run, err := NewRun(dir)
	symlink = os.Symlink
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(filepath.Join(dir, "latest"))
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("latest should be a regular file: %v %v", st, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "latest"))
	if string(data) != run.ID+"\n" {
		t.Fatalf("latest holds %q, want the run id", data)
	}
	if got, err := Latest(dir); err != nil || got != run.Dir {
		t.Fatalf("Latest = %q, %v", got, err)
	}
	// Symlinks work again: the file is replaced by a link.
	next, err := NewRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "latest")); err != nil || target != next.ID {
		t.Fatalf("latest -> %q, %v; want %s", target, err, next.ID)
	}
}

// Two handles on one folder stand for two Ginkgo processes; each records from several
// goroutines in random order. Finish must produce exactly the recorded set, in report order.
func TestConcurrentRecordingMergesToTheSameResults(t *testing.T) {
	recorded := loadRecorded(t)
	proc1, err := NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proc2, err := OpenRun(proc1.Dir)
	if err != nil {
		t.Fatal(err)
	}
	records := append([]ProbeRecord(nil), recorded.Probes...)
	rand.Shuffle(len(records), func(i, j int) { records[i], records[j] = records[j], records[i] })
	var wg sync.WaitGroup
	errs := make(chan error, len(records))
	for w := range 8 {
		run := proc1
		if w%2 == 1 {
			run = proc2
		}
		wg.Go(func() {
			for i := w; i < len(records); i += 8 {
				errs <- run.Record(records[i])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := proc2.SetEnvironment(Environment{ClusterMode: "kind", NodeImage: recorded.Header.NodeImage, Topology: recorded.Header.Topology}); err != nil {
		t.Fatal(err)
	}
	if err := proc2.SetEnvironment(Environment{IstioVersion: "1.31.1", KubernetesVersion: "v1.37.0"}); err != nil {
		t.Fatal(err)
	}
	if err := proc1.Finish(nil); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResults(filepath.Join(proc1.Dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	gotJSON, _ := json.Marshal(got.Probes)
	wantJSON, _ := json.Marshal(recorded.Probes)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("merged probes differ from what was recorded (%d vs %d records)", len(got.Probes), len(recorded.Probes))
	}
	if got.Header.Environment != recorded.Header.Environment {
		t.Fatalf("environment %+v, want %+v (later non-empty fields override)", got.Header.Environment, recorded.Header.Environment)
	}
	if got.Header.RunID != proc1.ID || got.Header.Started.IsZero() || got.Header.Finished.Before(got.Header.Started) {
		t.Fatalf("header %+v", got.Header)
	}
	summary, err := os.ReadFile(filepath.Join(proc1.Dir, SummaryFile))
	if err != nil || !strings.Contains(string(summary), "**✘ 39 of 180 probes did not pass**") {
		t.Fatalf("summary.md not written from the merged results: %v", err)
	}
	if _, err := os.Stat(filepath.Join(proc1.Dir, JUnitFile)); !os.IsNotExist(err) {
		t.Fatal("Finish(nil) has no Ginkgo report and must not write junit.xml")
	}
}

func TestRecordedTwiceLatestWins(t *testing.T) {
	run, err := NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := loadRecorded(t).Probes[0]
	failed := rec
	failed.Verdict, failed.Message, failed.Time = VerdictFail, "first attempt of a flaky spec", rec.Time
	passed := rec
	passed.Time = rec.Time.Add(time.Minute)
	// Recorded out of order: the later verdict still wins.
	for _, r := range []ProbeRecord{passed, failed} {
		if err := run.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	res, err := run.Results()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Probes) != 1 || res.Probes[0].Verdict != VerdictPass {
		t.Fatalf("got %+v, want the one later (passing) record", res.Probes)
	}
}

func TestRecordRejectsMalformedRecords(t *testing.T) {
	run, err := NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good := loadRecorded(t).Probes[0]
	for name, mutate := range map[string]func(*ProbeRecord){
		"verdict":  func(r *ProbeRecord) { r.Verdict = "ok" },
		"scenario": func(r *ProbeRecord) { r.Scenario = "" },
		"step":     func(r *ProbeRecord) { r.Step = "" },
		"port":     func(r *ProbeRecord) { r.Port = 0 },
	} {
		r := good
		mutate(&r)
		if err := run.Record(r); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Record error = %v, want one naming %s", name, err, name)
		}
	}
}

func TestStepRecordsInfrastructureFailure(t *testing.T) {
	run, err := NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Step("create kind cluster", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	err = run.Step("install Istio 1.31.1 with Helm", func() error { return errors.New("istiod not ready: context deadline exceeded") })
	if err == nil || err.Error() != "install Istio 1.31.1 with Helm: istiod not ready: context deadline exceeded" {
		t.Fatalf("Step error = %v", err)
	}
	res, err := run.Results()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Header.InfrastructureFailures) != 1 {
		t.Fatalf("infrastructure failures %+v, want only the failed step", res.Header.InfrastructureFailures)
	}
	f := res.Header.InfrastructureFailures[0]
	if f.Step != "install Istio 1.31.1 with Helm" || f.Message != "istiod not ready: context deadline exceeded" || f.Time.IsZero() {
		t.Fatalf("failure %+v", f)
	}
}

func TestJournalInterruptedLastLine(t *testing.T) {
	run, err := NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := loadRecorded(t).Probes[0]
	if err := run.Record(rec); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(run.journal, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"probe":{"scenario":"base`) // a crash mid-write
	f.Close()
	res, err := run.Results()
	if err != nil {
		t.Fatalf("an interrupted last line must be dropped, got %v", err)
	}
	if len(res.Probes) != 1 {
		t.Fatalf("%d probes, want 1", len(res.Probes))
	}
	// The same garbage followed by more lines is corruption, not a crash.
	f, _ = os.OpenFile(run.journal, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("\n")
	f.Close()
	if err := run.Record(rec); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Results(); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("want an error naming line 3, got %v", err)
	}
}

func TestParseResultsRejectsBadFiles(t *testing.T) {
	good, err := os.ReadFile("testdata/results.json")
	if err != nil {
		t.Fatal(err)
	}
	dup := loadRecorded(t)
	dup.Probes = append(dup.Probes, dup.Probes[0])
	dupJSON, _ := json.Marshal(dup)
	for name, tc := range map[string]struct {
		data string
		want string
	}{
		"version": {strings.Replace(string(good), `"schemaVersion": 1`, `"schemaVersion": 2`, 1), "schemaVersion 2 is not supported"},
		"unknown": {strings.Replace(string(good), `"schemaVersion": 1`, `"schemaVersion": 1, "extra": true`, 1), `unknown field "extra"`},
		"verdict": {strings.Replace(string(good), `"verdict": "pass"`, `"verdict": "ok"`, 1), `probes[0]: verdict "ok"`},
		"dup":     {string(dupJSON), "is recorded twice"},
		"json":    {"[]", "not a results file"},
	} {
		if _, err := ParseResults([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

// Marshal's output is what testdata holds: stable field names and order.
func TestResultsRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/results.json")
	if err != nil {
		t.Fatal(err)
	}
	res, err := ParseResults(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := res.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(data) {
		t.Fatal("results.json does not round-trip byte for byte")
	}
	for _, field := range []string{`"scenario"`, `"step"`, `"from"`, `"to"`, `"port"`, `"expected"`, `"observed"`, `"exitCode"`, `"httpCode"`, `"xfcc"`, `"by"`, `"uri"`, `"hash"`, `"attempts"`, `"convergeMs"`, `"elapsedMs"`, `"verdict"`, `"message"`, `"istioVersion"`, `"kubernetesVersion"`, `"nodeImage"`, `"clusterMode"`, `"started"`, `"finished"`} {
		if !strings.Contains(string(data), field+":") {
			t.Errorf("results.json lacks field %s", field)
		}
	}
}

// FinishWrites names the files Finish writes, a suite's own among them, as ReportAfterSuite's
// text reads them.
func TestFinishWrites(t *testing.T) {
	for _, c := range []struct {
		also []string
		want string
	}{
		{nil, "results.json, summary.md and junit.xml"},
		{[]string{"phases/*/results.json"}, "results.json, phases/*/results.json, summary.md and junit.xml"},
	} {
		if got := FinishWrites(c.also...); got != c.want {
			t.Errorf("FinishWrites(%q) = %q, want %q", c.also, got, c.want)
		}
	}
}

// A JWT in the shape of a projected service account token.
const token = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjZ0dEp4c0VfTjZXYkZ0In0.eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMifQ.c2lnbmF0dXJlLXNoYXBlZC1ieXRlcw"

func TestReportsHoldNoCredentials(t *testing.T) {
	run, err := NewRun(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := loadRecorded(t).Probes[0]
	rec.Verdict = VerdictFail
	rec.Message = "observed body: {\"headers\": {\"Authorization\": [\"Bearer " + token + "\"]}}"
	rec.Observed = &Observed{HTTPCode: 401, Stderr: "< www-authenticate: Bearer\n> Authorization: Bearer " + token}
	if err := run.Record(rec); err != nil {
		t.Fatal(err)
	}
	stepErr := run.Step("connect to the existing cluster", func() error {
		return errors.New("invalid kubeconfig: users[0].user.client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JR0hBZ0VBTUJNR0J5cUdTTTQ5QWdFR0NDcUdTTTQ5QXdFSEJHMHdhd0lCQVFRZ2F3PT0K; token: " + token)
	})
	if stepErr == nil {
		t.Fatal("the step failed")
	}
	rep := failedSetupReport()
	rep.SpecReports[0].Failure.Message += "\nAuthorization: Bearer " + token
	if err := run.Finish(&rep); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ResultsFile, SummaryFile, JUnitFile} {
		data, err := os.ReadFile(filepath.Join(run.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{token, "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"} {
			if strings.Contains(string(data), secret) {
				t.Errorf("%s holds %.30q…", name, secret)
			}
		}
		if !strings.Contains(string(data), "[REDACTED]") {
			t.Errorf("%s marks nothing as redacted", name)
		}
	}
}
