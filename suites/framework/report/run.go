package report

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/diagnostics"
)

// File names inside a run folder.
const (
	ResultsFile     = "results.json"
	SummaryFile     = "summary.md"
	JUnitFile       = "junit.xml"
	DiagnosticsDir  = "diagnostics"
	LatestName      = "latest"
	journalDir      = ".journal"
	runIDTimeFormat = "20060102T150405Z"
)

// Run is one run's folder. Its methods are safe for concurrent use, and several processes may
// hold a Run for the same folder: each appends to its own journal file.
type Run struct {
	// ID is the folder's name: UTC start time and a short random suffix.
	ID string
	// Dir is the folder.
	Dir string

	mu      sync.Mutex
	journal string
}

// NewRun creates a new run folder under dir (created if missing), journals the start time and
// points dir/latest at it.
func NewRun(dir string) (*Run, error) {
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	id := now.Format(runIDTimeFormat) + "-" + hex.EncodeToString(suffix)
	runDir := filepath.Join(dir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("reports dir: %w", err)
	}
	// Mkdir, not MkdirAll: an existing folder of the same name is an error, never shared.
	if err := os.Mkdir(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	r, err := OpenRun(runDir)
	if err != nil {
		return nil, err
	}
	if err := r.append(journalEntry{Started: &now}); err != nil {
		return nil, err
	}
	if err := setLatest(dir, id); err != nil {
		return nil, err
	}
	return r, nil
}

// OpenRun attaches to a run folder another process created (Ginkgo's parallel processes get it
// from SynchronizedBeforeSuite's first function).
func OpenRun(runDir string) (*Run, error) {
	st, err := os.Stat(runDir)
	if err != nil {
		return nil, fmt.Errorf("run folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("run folder %s is not a directory", runDir)
	}
	if err := os.MkdirAll(filepath.Join(runDir, journalDir), 0o755); err != nil {
		return nil, fmt.Errorf("run journal: %w", err)
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%d-%s.jsonl", os.Getpid(), hex.EncodeToString(suffix))
	return &Run{
		ID:      filepath.Base(runDir),
		Dir:     runDir,
		journal: filepath.Join(runDir, journalDir, name),
	}, nil
}

// DiagnosticsDir is where the diagnostics collector writes for this run.
func (r *Run) DiagnosticsDir() string { return filepath.Join(r.Dir, DiagnosticsDir) }

// journalEntry is one line of a journal: exactly one field is set.
type journalEntry struct {
	Started     *time.Time         `json:"started,omitempty"`
	Environment *Environment       `json:"environment,omitempty"`
	Infra       *InfraFailure      `json:"infra,omitempty"`
	Probe       *ProbeRecord       `json:"probe,omitempty"`
	Propagation *PropagationRecord `json:"propagation,omitempty"`
}

// append writes one journal line with a single write, so a crash loses at most that line.
func (r *Run) append(e journalEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.journal, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("run journal: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("run journal: %w", err)
	}
	return f.Close()
}

// Record adds one probe's record. A record with the same key recorded later (a retried spec)
// replaces it.
func (r *Run) Record(rec ProbeRecord) error {
	if err := rec.validate(); err != nil {
		return fmt.Errorf("record %s: %w", rec.Key(), err)
	}
	stamp(&rec.Time, &rec.Message)
	if rec.Observed != nil {
		observed := *rec.Observed
		observed.Stderr = redact(observed.Stderr)
		rec.Observed = &observed
	}
	return r.append(journalEntry{Probe: &rec})
}

// stamp readies a record for the journal: its time, when unset, is now, and its message is
// redacted (reports never hold credentials: messages quote curl's stderr and response bodies).
func stamp(at *time.Time, message *string) {
	if at.IsZero() {
		*at = time.Now().UTC()
	}
	*message = redact(*message)
}

// SetEnvironment records what the run runs on; non-empty fields override earlier calls.
func (r *Run) SetEnvironment(env Environment) error {
	return r.append(journalEntry{Environment: &env})
}

// RecordInfrastructureFailure records a setup step that failed; Finish turns it into a failed
// JUnit testcase named after the step.
func (r *Run) RecordInfrastructureFailure(step string, err error, took time.Duration) error {
	return r.append(journalEntry{Infra: &InfraFailure{
		Step:       step,
		Message:    redact(err.Error()), // errors of kind, Helm and client-go can quote configs
		DurationMs: took.Milliseconds(),
		Time:       time.Now().UTC(),
	}})
}

// Step runs one setup step. When it fails, the failure is recorded under the step's name and
// returned prefixed with it, so `Expect(run.Step("create kind cluster", create)).To(Succeed())`
// fails the setup node with a message that names the step and leaves a testcase that does too.
func (r *Run) Step(name string, fn func() error) error {
	start := time.Now()
	err := fn()
	if err == nil {
		return nil
	}
	if jerr := r.RecordInfrastructureFailure(name, err, time.Since(start)); jerr != nil {
		return fmt.Errorf("%s: %w (and recording it failed: %v)", name, err, jerr)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// Results merges every process's journal: the environment, the infrastructure failures, and
// one record per probe (the latest when a probe was recorded twice), in report order.
func (r *Run) Results() (*Results, error) {
	files, err := filepath.Glob(filepath.Join(r.Dir, journalDir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	res := &Results{SchemaVersion: SchemaVersion, Header: Header{RunID: r.ID}}
	latest := map[Key]ProbeRecord{}
	propagation := map[string]PropagationRecord{}
	var envs []journalEntry
	for _, file := range files {
		entries, err := readJournal(file)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			switch {
			case e.Started != nil:
				if res.Header.Started.IsZero() || e.Started.Before(res.Header.Started) {
					res.Header.Started = *e.Started
				}
			case e.Environment != nil:
				envs = append(envs, e)
			case e.Infra != nil:
				res.Header.InfrastructureFailures = append(res.Header.InfrastructureFailures, *e.Infra)
			case e.Probe != nil:
				if prev, ok := latest[e.Probe.Key()]; !ok || !e.Probe.Time.Before(prev.Time) {
					latest[e.Probe.Key()] = *e.Probe
				}
			case e.Propagation != nil:
				if prev, ok := propagation[e.Propagation.key()]; !ok || !e.Propagation.Time.Before(prev.Time) {
					propagation[e.Propagation.key()] = *e.Propagation
				}
			}
		}
	}
	// Journal files are per process; environment updates apply in file order, which is the
	// only order there is across processes (one process reports the environment in practice).
	for _, e := range envs {
		res.Header.Environment = res.Header.Environment.merge(*e.Environment)
	}
	slices.SortStableFunc(res.Header.InfrastructureFailures, func(a, b InfraFailure) int { return a.Time.Compare(b.Time) })
	res.Probes = make([]ProbeRecord, 0, len(latest))
	for _, rec := range latest {
		res.Probes = append(res.Probes, rec)
	}
	Sort(res.Probes)
	for _, rec := range propagation {
		res.Propagation = append(res.Propagation, rec)
	}
	SortPropagation(res.Propagation)
	return res, nil
}

// readJournal reads one journal file. A malformed unterminated last line is the write a crash
// interrupted and is dropped; any other malformed line is an error.
func readJournal(file string) ([]journalEntry, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	lines := bytes.Split(data, []byte("\n"))
	var out []journalEntry
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		var e journalEntry
		if err := json.Unmarshal(line, &e); err != nil {
			if i == len(lines)-1 {
				break // no newline after it: interrupted
			}
			return nil, fmt.Errorf("journal %s line %d: %v", file, i+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// FinishWrites names, for a ReportAfterSuite node's text, the files Finish writes, with the
// paths in also (a suite's own, written before Finish) after the results: "results.json, <also>,
// summary.md and junit.xml".
func FinishWrites(also ...string) string {
	files := append(append([]string{ResultsFile}, also...), SummaryFile)
	return strings.Join(files, ", ") + " and " + JUnitFile
}

// Finish writes results.json and summary.md from the journals and, given Ginkgo's report (in
// ReportAfterSuite), junit.xml. It may be called again; each call rewrites the files.
func (r *Run) Finish(ginkgoReport *types.Report) error {
	res, err := r.Results()
	if err != nil {
		return err
	}
	res.Header.Finished = time.Now().UTC()
	if ginkgoReport != nil && res.Header.Started.IsZero() {
		res.Header.Started = ginkgoReport.StartTime.UTC()
	}
	if cause := Interruption(ginkgoReport); cause != "" {
		res.Header.Interrupted, res.Header.InterruptedBy = true, cause
	}
	data, err := res.Marshal()
	if err != nil {
		return err
	}
	errs := []error{writeFileAtomic(filepath.Join(r.Dir, ResultsFile), data)}
	errs = append(errs, writeFileAtomic(filepath.Join(r.Dir, SummaryFile), RenderSummary(res)))
	if ginkgoReport != nil {
		errs = append(errs, GenerateJUnit(*ginkgoReport, filepath.Join(r.Dir, JUnitFile), res.Header))
	}
	return errors.Join(errs...)
}

// Interruption is why Ginkgo stopped the run early, or "" when it ran to its end: the suite's
// interrupt cause ("Interrupted by User" for SIGINT and SIGTERM, "Interrupted by Other Ginkgo
// Process"; ginkgo/v2 internal/interrupt_handler InterruptCause, which internal/suite.go adds to
// SpecialSuiteFailureReasons before the ReportAfterSuite nodes run), else the message of a spec
// Ginkgo marked interrupted.
func Interruption(rep *types.Report) string {
	if rep == nil {
		return ""
	}
	for _, reason := range rep.SpecialSuiteFailureReasons {
		if strings.HasPrefix(reason, "Interrupted by ") {
			return reason
		}
	}
	for _, spec := range rep.SpecReports {
		if spec.State == types.SpecStateInterrupted {
			if spec.Failure.Message != "" {
				return spec.Failure.Message
			}
			return "interrupted"
		}
	}
	return ""
}

// writeFileAtomic writes through a temporary file and a rename, so a reader (a CI upload, a
// person's tooling) never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func redact(s string) string { return string(diagnostics.RedactText([]byte(s))) }

// symlink is os.Symlink, replaceable by tests to exercise the fallback.
var symlink = os.Symlink

// setLatest points dir/latest at the run id: a relative symlink, replaced atomically, or, where
// symlinks cannot be made (some Windows and CI filesystems), a file holding the run id.
func setLatest(dir, id string) error {
	latest := filepath.Join(dir, LatestName)
	tmp := filepath.Join(dir, "."+LatestName+"-"+id)
	if err := symlink(id, tmp); err == nil {
		if err := os.Rename(tmp, latest); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("%s: %w", latest, err)
		}
		return nil
	}
	if err := writeFileAtomic(latest, []byte(id+"\n")); err != nil {
		return fmt.Errorf("%s: %w", latest, err)
	}
	return nil
}

// Latest returns the newest run folder under dir, following the symlink or reading the file
// setLatest left.
func Latest(dir string) (string, error) {
	latest := filepath.Join(dir, LatestName)
	st, err := os.Lstat(latest)
	if err != nil {
		return "", err
	}
	var id string
	if st.Mode()&os.ModeSymlink != 0 {
		if id, err = os.Readlink(latest); err != nil {
			return "", err
		}
	} else {
		data, err := os.ReadFile(latest)
		if err != nil {
			return "", err
		}
		id = strings.TrimSpace(string(data))
	}
	if id == "" || strings.ContainsAny(id, `/\`) {
		return "", fmt.Errorf("%s does not name a run folder: %q", latest, id)
	}
	return filepath.Join(dir, id), nil
}
