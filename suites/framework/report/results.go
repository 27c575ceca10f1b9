// Package report writes what a conformance run found, one folder per run under the reports
// directory:
//
//	reports/<run-id>/results.json   every probe: expected and observed outcome, attempts, verdict
//	reports/<run-id>/summary.md     per scenario step, the seed articles' from×to grid with ✔/✘ and 🔒
//	reports/<run-id>/junit.xml      Ginkgo's own JUnit, plus suite properties and infrastructure testcases
//	reports/<run-id>/diagnostics/   what the diagnostics package collected for failed specs
//	reports/latest                  symlink to the newest run folder (a file naming it where symlinks fail)
//
// The Ginkgo suite records into a Run (NewRun on the first process, OpenRun on the others); the
// records go to a per-process journal inside the run folder, so parallel Ginkgo processes and
// goroutines may record at once, and Finish, called once from ReportAfterSuite, merges them.
package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// SchemaVersion is results.json's format version; readers reject other versions.
const SchemaVersion = 1

// Verdict is the judgement on one probe.
type Verdict string

// The verdicts.
const (
	// VerdictPass: the expected outcome was observed (converged).
	VerdictPass Verdict = "pass"
	// VerdictFail: the probe ran but never converged to the expected outcome.
	VerdictFail Verdict = "fail"
	// VerdictInfraError: nothing about mTLS was observed — the exec, pod or API server failed.
	VerdictInfraError Verdict = "infrastructure-error"
	// VerdictSkipped: the probe did not run (a failed setup, a label filter, no --allow-mesh-wide).
	VerdictSkipped Verdict = "skipped"
)

// Verdicts lists every verdict, in the order summaries count them.
var Verdicts = []Verdict{VerdictPass, VerdictFail, VerdictInfraError, VerdictSkipped}

// Environment is what the run ran on. Every field is also a JUnit suite property (see
// PropertyNames).
type Environment struct {
	// IstioVersion is the installed (or detected) Istio control plane version, e.g. "1.31.1".
	IstioVersion string `json:"istioVersion"`
	// KubernetesVersion is the API server's version, e.g. "v1.37.0".
	KubernetesVersion string `json:"kubernetesVersion"`
	// NodeImage is the kind node image (with digest); empty on an existing cluster.
	NodeImage string `json:"nodeImage"`
	// ClusterMode is "kind" (created by the suite) or "existing".
	ClusterMode string `json:"clusterMode"`
	// Topology says which namespaces had sidecars and so where the expectations came from:
	// "documented (foo, bar injected)", the catalog's, or "INJECT=none — expectations from the
	// oracle, not the catalog" (world.TopologyText).
	Topology string `json:"topology"`
}

// merge overlays the non-empty fields of other, so a suite can report what it knows when it
// knows it (the cluster mode first, the Istio version after the install).
func (e Environment) merge(other Environment) Environment {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&e.IstioVersion, other.IstioVersion)
	set(&e.KubernetesVersion, other.KubernetesVersion)
	set(&e.NodeImage, other.NodeImage)
	set(&e.ClusterMode, other.ClusterMode)
	set(&e.Topology, other.Topology)
	return e
}

// Header describes the run as a whole.
type Header struct {
	RunID string `json:"runId"`
	Environment
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Interrupted: the run was stopped before its end (Ctrl-C or SIGTERM; Ginkgo then tears
	// down and reports), so probes after that point were never run. InterruptedBy is Ginkgo's
	// cause, "Interrupted by User".
	Interrupted   bool   `json:"interrupted"`
	InterruptedBy string `json:"interruptedBy,omitempty"`
	// InfrastructureFailures are the setup steps that failed before (or between) scenarios:
	// cluster creation, Istio install, fixtures. Each is also a failed JUnit testcase.
	InfrastructureFailures []InfraFailure `json:"infrastructureFailures,omitempty"`
}

// InfraFailure is a setup step that failed, named the way a person would say it ("create kind
// cluster", "install Istio 1.31.1 with Helm", "deploy fixtures").
type InfraFailure struct {
	Step    string `json:"step"`
	Message string `json:"message"`
	// DurationMs is how long the step ran before it failed.
	DurationMs int64     `json:"durationMs"`
	Time       time.Time `json:"time"`
}

// ObservedXFCC is the X-Forwarded-Client-Cert element the server saw.
type ObservedXFCC struct {
	// By is the server's SPIFFE ID, URI the client's.
	By  string `json:"by"`
	URI string `json:"uri"`
	// Hash is the SHA-256 of the client certificate (hex). It changes with every certificate
	// rotation, so comparisons between runs ignore it.
	Hash string `json:"hash,omitempty"`
	// Raw is the header as received, set when it was not exactly one parseable element.
	Raw string `json:"raw,omitempty"`
}

// Observed is what the last attempt of a probe showed.
type Observed struct {
	// ExitCode is curl's exit code; HTTPCode its %{http_code} (0 when no response arrived).
	ExitCode int `json:"exitCode"`
	HTTPCode int `json:"httpCode"`
	// MTLS is whether the server's sidecar saw mutual TLS (the XFCC header was present).
	MTLS bool          `json:"mtls"`
	XFCC *ObservedXFCC `json:"xfcc,omitempty"`
	// Stderr is curl's standard error (first lines), which names the failure ("Recv failure:
	// Connection reset by peer").
	Stderr string `json:"stderr,omitempty"`
}

// Outcome is the observation in the catalog's terms, for comparison and display.
func (o *Observed) Outcome() scenarios.Outcome {
	out := scenarios.Outcome{ExitCode: o.ExitCode, HTTPCode: o.HTTPCode, MTLS: o.MTLS}
	if o.XFCC != nil {
		out.XFCC = &scenarios.XFCC{By: o.XFCC.By, URI: o.XFCC.URI}
	}
	return out
}

// ProbeRecord is one probe of one scenario step: a row of results.json.
type ProbeRecord struct {
	Scenario string `json:"scenario"`
	Step     string `json:"step"`
	// StepIndex orders the steps of a scenario (0-based).
	StepIndex int               `json:"stepIndex"`
	From      fixtures.Ref      `json:"from"`
	To        fixtures.Ref      `json:"to"`
	Port      int               `json:"port"`
	Expected  scenarios.Outcome `json:"expected"`
	// Observed is nil when nothing was observed (skipped, or the exec never ran).
	Observed *Observed `json:"observed,omitempty"`
	// Attempts counts every curl run of the convergence.
	Attempts int `json:"attempts"`
	// ConvergeMs is when the final run of matching observations began, from the first attempt:
	// the time the mesh took to show the expected behaviour for good (pass only).
	ConvergeMs int64 `json:"convergeMs"`
	// ElapsedMs is the whole convergence, first attempt to last.
	ElapsedMs int64   `json:"elapsedMs"`
	Verdict   Verdict `json:"verdict"`
	// Message explains a verdict other than pass: expected and observed side by side, curl's
	// stderr, the last observations.
	Message string `json:"message,omitempty"`
	// Time is when the verdict was reached.
	Time time.Time `json:"time"`
}

// Probe is the record's probe in the catalog's terms.
func (r *ProbeRecord) Probe() scenarios.Probe {
	return scenarios.Probe{From: r.From, To: r.To, Port: r.Port}
}

// Key identifies a probe across runs.
type Key struct {
	Scenario string
	Step     string
	From     fixtures.Ref
	To       fixtures.Ref
	Port     int
}

func (k Key) String() string {
	return fmt.Sprintf("%s / %s: %s", k.Scenario, k.Step, scenarios.Probe{From: k.From, To: k.To, Port: k.Port})
}

// Key returns the record's identity.
func (r *ProbeRecord) Key() Key {
	return Key{Scenario: r.Scenario, Step: r.Step, From: r.From, To: r.To, Port: r.Port}
}

// validate rejects a record that cannot be placed in a matrix or judged.
func (r *ProbeRecord) validate() error {
	switch err := validateStep(r.Scenario, r.Step); {
	case err != nil:
		return err
	case r.From == fixtures.Ref{} || r.To == fixtures.Ref{}:
		return errors.New("from and to are required")
	case r.Port <= 0 || r.Port > 65535:
		return fmt.Errorf("port %d is out of range", r.Port)
	case !slices.Contains(Verdicts, r.Verdict):
		return fmt.Errorf("verdict %q is not one of %v", r.Verdict, Verdicts)
	}
	return nil
}

// validateStep rejects a record that names no scenario or no step: every record belongs to one.
func validateStep(scenario, step string) error {
	switch {
	case scenario == "":
		return errors.New("scenario is empty")
	case step == "":
		return errors.New("step is empty")
	}
	return nil
}

// Results is results.json.
type Results struct {
	SchemaVersion int           `json:"schemaVersion"`
	Header        Header        `json:"header"`
	Probes        []ProbeRecord `json:"probes"`
	// Propagation says, per scenario step (and per reset to the baseline), how the step reached
	// the sidecars before its probes ran.
	Propagation []PropagationRecord `json:"propagation,omitempty"`
}

// ResetStep is the Step of the propagation record of a scenario's reset to the baseline; its
// StepIndex is the scenario's step count (after the last step).
const ResetStep = "reset to the baseline"

// PropagationRecord is the propagation barrier's result for one scenario step: after the step's
// changes, every sidecar's Envoy configuration was read until it gave what the oracle predicts
// for the step (authcheck.Barrier), and only then were the step's probes run.
type PropagationRecord struct {
	Scenario  string `json:"scenario"`
	Step      string `json:"step"`
	StepIndex int    `json:"stepIndex"`
	// Proxies are the sidecars whose configuration was checked (pod.namespace); none when the
	// mesh had no sidecar, which Note then says ("no proxies").
	Proxies []string `json:"proxies"`
	// DurationMs runs from the step's last change to the read that found it in force (or to
	// the barrier giving up).
	DurationMs int64 `json:"durationMs"`
	// InForce: every sidecar's configuration gave the predicted modes.
	InForce bool `json:"inForce"`
	// PushSeenOn is a sidecar seen holding istiod's push of the change.
	PushSeenOn string `json:"pushSeenOn,omitempty"`
	// Note is what the barrier could not confirm although the step was in force.
	Note string `json:"note,omitempty"`
	// Proxy is what Proxies are: "ztunnel" on the ambient data plane, else sidecars.
	Proxy string `json:"proxy,omitempty"`
	// Message names every sidecar, port and cluster that disagreed when the step was not in force.
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time"`
}

// key identifies a propagation record within a run.
func (r *PropagationRecord) key() string {
	return fmt.Sprintf("%s / %d %s", r.Scenario, r.StepIndex, r.Step)
}

func (r *PropagationRecord) validate() error {
	switch err := validateStep(r.Scenario, r.Step); {
	case err != nil:
		return err
	case r.StepIndex < 0:
		return fmt.Errorf("stepIndex %d is negative", r.StepIndex)
	case r.DurationMs < 0:
		return fmt.Errorf("durationMs %d is negative", r.DurationMs)
	}
	return nil
}

// ProxyKind is what the record's proxies are: "sidecar", or "ztunnel" on the ambient data plane.
func (r *PropagationRecord) ProxyKind() string {
	if r.Proxy == "" {
		return "sidecar"
	}
	return r.Proxy
}

// RecordPropagation adds one step's propagation record; a later one for the same step (a
// retried step) replaces it.
func (r *Run) RecordPropagation(rec PropagationRecord) error {
	if err := rec.validate(); err != nil {
		return fmt.Errorf("propagation record %s: %w", rec.key(), err)
	}
	stamp(&rec.Time, &rec.Message)
	return r.append(journalEntry{Propagation: &rec})
}

// SortPropagation puts propagation records in report order: scenarios as Sort orders them, then
// by step.
func SortPropagation(records []PropagationRecord) {
	info := catalog()
	slices.SortStableFunc(records, func(a, b PropagationRecord) int {
		return info.compareSteps(a.Scenario, a.StepIndex, a.Step, b.Scenario, b.StepIndex, b.Step)
	})
}

// Count returns how many probes have each verdict.
func (r *Results) Count() map[Verdict]int {
	out := map[Verdict]int{}
	for i := range r.Probes {
		out[r.Probes[i].Verdict]++
	}
	return out
}

// ReadResults reads and checks a results.json: the schema version, every record well formed,
// no probe twice.
func ReadResults(path string) (*Results, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseResults(data)
}

// ParseResults is ReadResults on bytes.
func ParseResults(data []byte) (*Results, error) {
	var r Results
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a results file: %v", err)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("schemaVersion %d is not supported (want %d)", r.SchemaVersion, SchemaVersion)
	}
	if err := checkRecords("probes", r.Probes, (*ProbeRecord).validate, (*ProbeRecord).Key); err != nil {
		return nil, err
	}
	if err := checkRecords("propagation", r.Propagation, (*PropagationRecord).validate, (*PropagationRecord).key); err != nil {
		return nil, err
	}
	return &r, nil
}

// checkRecords validates each of a results file's records (field names their list) and rejects
// one whose key was recorded before: the journal keeps the last record of a key.
func checkRecords[R any, K comparable](field string, records []R, validate func(*R) error, key func(*R) K) error {
	seen := map[K]bool{}
	for i := range records {
		rec := &records[i]
		if err := validate(rec); err != nil {
			return fmt.Errorf("%s[%d]: %v", field, i, err)
		}
		k := key(rec)
		if seen[k] {
			return fmt.Errorf("%s[%d]: %v is recorded twice", field, i, k)
		}
		seen[k] = true
	}
	return nil
}

// Marshal renders results.json: indented, probes in report order, a trailing newline.
func (r *Results) Marshal() ([]byte, error) {
	r.SchemaVersion = SchemaVersion
	Sort(r.Probes)
	SortPropagation(r.Propagation)
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// catalogInfo holds the catalog's scenario order and titles and the matrix's probe order, so
// that reports list scenarios as the catalog does and cells as the seed articles' grids do,
// whatever order parallel specs recorded them in. A catalog that does not load leaves them empty
// and reports fall back to names: a report must be written even then.
type catalogInfo struct {
	scenarioIndex map[string]int
	titles        map[string]string
	probeIndex    map[scenarios.Probe]int
}

var catalog = sync.OnceValue(func() catalogInfo {
	info := catalogInfo{scenarioIndex: map[string]int{}, titles: map[string]string{}, probeIndex: map[scenarios.Probe]int{}}
	if list, err := scenarios.Catalog(); err == nil {
		for i, s := range list {
			info.scenarioIndex[s.Name] = i
			info.titles[s.Name] = s.Title
		}
	}
	if topo, err := fixtures.Load(); err == nil {
		for i, p := range scenarios.Matrix(topo) {
			info.probeIndex[p] = i
		}
	}
	return info
})

// Sort puts records in report order: catalog scenarios in catalog order, then any other scenario
// (the upgrade suite's phases) by name; steps by index; probes in matrix order, unknown probes
// after them by name.
func Sort(records []ProbeRecord) {
	info := catalog()
	probeRank := func(p scenarios.Probe) int {
		if i, ok := info.probeIndex[p]; ok {
			return i
		}
		return len(info.probeIndex)
	}
	slices.SortStableFunc(records, func(a, b ProbeRecord) int {
		return cmp.Or(
			info.compareSteps(a.Scenario, a.StepIndex, a.Step, b.Scenario, b.StepIndex, b.Step),
			cmp.Compare(probeRank(a.Probe()), probeRank(b.Probe())),
			cmp.Compare(a.Probe().String(), b.Probe().String()),
		)
	})
}

// compareSteps orders two records' steps (Sort, SortPropagation): catalog scenarios in catalog
// order, then any other scenario by name; steps by index, then by name.
func (info catalogInfo) compareSteps(aScenario string, aIndex int, aStep string, bScenario string, bIndex int, bStep string) int {
	rank := func(name string) int {
		if i, ok := info.scenarioIndex[name]; ok {
			return i
		}
		return len(info.scenarioIndex)
	}
	return cmp.Or(
		cmp.Compare(rank(aScenario), rank(bScenario)),
		cmp.Compare(aScenario, bScenario),
		cmp.Compare(aIndex, bIndex),
		cmp.Compare(aStep, bStep),
	)
}
