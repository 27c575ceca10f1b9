package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

func init() {
	register("diff", "diff [-o table|json] A/results.json B/results.json",
		"list every probe whose outcome changed between two runs (a run folder stands for its results.json)", runDiff)
}

// Change kinds.
const (
	changeChanged = "changed"   // in both runs, observed outcome or verdict differs
	changeOnlyA   = "only-in-a" // the probe ran in A only (a scenario removed, filtered, or B stopped early)
	changeOnlyB   = "only-in-b"
)

// diffSide is one run's view of a changed probe.
type diffSide struct {
	Verdict  report.Verdict    `json:"verdict"`
	Expected scenarios.Outcome `json:"expected"`
	Observed *report.Observed  `json:"observed,omitempty"`
	Message  string            `json:"message,omitempty"`
}

// diffChange is one probe that changed, in diff's JSON document.
type diffChange struct {
	Scenario string       `json:"scenario"`
	Step     string       `json:"step"`
	From     fixtures.Ref `json:"from"`
	To       fixtures.Ref `json:"to"`
	Port     int          `json:"port"`
	Change   string       `json:"change"`
	A        *diffSide    `json:"a,omitempty"`
	B        *diffSide    `json:"b,omitempty"`
}

// diffRun names one of the two runs compared.
type diffRun struct {
	Path         string `json:"path"`
	RunID        string `json:"runId"`
	IstioVersion string `json:"istioVersion"`
}

// diffDocument is `diff -o json`: stable field names.
type diffDocument struct {
	A        diffRun      `json:"a"`
	B        diffRun      `json:"b"`
	Compared int          `json:"compared"` // probes present in either run
	Changes  []diffChange `json:"changes"`
}

func runDiff(args []string, stdout, stderr io.Writer) int {
	fs, fail := newCommand("diff", stderr)
	output := fs.String("o", "table", "output format: table or json")
	// Flags may come before, between or after the two files.
	var paths []string
	for rest := args; ; {
		if ok, code := parseFlagsAllowArgs(fs, rest, stdout, stderr); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *output != "table" && *output != "json" {
		return fail(2, "-o %q: want table or json", *output)
	}
	if len(paths) != 2 {
		return fail(2, "want two results files, A and B (e.g. reports/<run>/results.json), got %d", len(paths))
	}
	var runs [2]*report.Results
	for i, p := range paths {
		// reports/latest is a file naming the run where symlinks could not be made.
		if st, err := os.Lstat(p); err == nil && st.Mode().IsRegular() && filepath.Base(p) == report.LatestName {
			if dir, err := report.Latest(filepath.Dir(p)); err == nil {
				p = dir
			}
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			p = filepath.Join(p, report.ResultsFile)
			paths[i] = p
		}
		res, err := report.ReadResults(p)
		if err != nil {
			return fail(2, "%s: %v", p, err)
		}
		runs[i] = res
	}

	doc := diffDocument{
		A:       diffRun{Path: paths[0], RunID: runs[0].Header.RunID, IstioVersion: runs[0].Header.IstioVersion},
		B:       diffRun{Path: paths[1], RunID: runs[1].Header.RunID, IstioVersion: runs[1].Header.IstioVersion},
		Changes: compareRuns(runs[0], runs[1]),
	}
	doc.Compared = countUnion(runs[0], runs[1])
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fail(2, "%v", err)
		}
	} else {
		fmt.Fprint(stdout, diffTable(doc))
	}
	if len(doc.Changes) > 0 {
		return 1
	}
	return 0
}

// compareRuns lists, in report order, every probe whose observed outcome or verdict differs,
// and every probe only one run has.
func compareRuns(a, b *report.Results) []diffChange {
	inA := map[report.Key]*report.ProbeRecord{}
	for i := range a.Probes {
		inA[a.Probes[i].Key()] = &a.Probes[i]
	}
	inB := map[report.Key]*report.ProbeRecord{}
	for i := range b.Probes {
		inB[b.Probes[i].Key()] = &b.Probes[i]
	}
	// One record per probe of the union, sorted as reports are.
	union := append([]report.ProbeRecord(nil), a.Probes...)
	for _, p := range b.Probes {
		if _, ok := inA[p.Key()]; !ok {
			union = append(union, p)
		}
	}
	report.Sort(union)
	out := []diffChange{} // an empty list, not null, in JSON
	for _, p := range union {
		ra, rb := inA[p.Key()], inB[p.Key()]
		c := diffChange{Scenario: p.Scenario, Step: p.Step, From: p.From, To: p.To, Port: p.Port}
		switch {
		case rb == nil:
			c.Change = changeOnlyA
		case ra == nil:
			c.Change = changeOnlyB
		case ra.Verdict != rb.Verdict || !sameObserved(ra.Observed, rb.Observed):
			c.Change = changeChanged
		default:
			continue
		}
		c.A, c.B = side(ra), side(rb)
		out = append(out, c)
	}
	return out
}

func side(r *report.ProbeRecord) *diffSide {
	if r == nil {
		return nil
	}
	return &diffSide{Verdict: r.Verdict, Expected: r.Expected, Observed: r.Observed, Message: r.Message}
}

// sameObserved compares what matters to mTLS: exit code, HTTP status, mTLS and the XFCC
// identities. The certificate hash changes with every rotation and curl's stderr with timing,
// so neither counts.
func sameObserved(a, b *report.Observed) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.ExitCode != b.ExitCode || a.HTTPCode != b.HTTPCode || a.MTLS != b.MTLS || (a.XFCC == nil) != (b.XFCC == nil) {
		return false
	}
	return a.XFCC == nil || (a.XFCC.By == b.XFCC.By && a.XFCC.URI == b.XFCC.URI)
}

func countUnion(a, b *report.Results) int {
	keys := map[report.Key]bool{}
	for i := range a.Probes {
		keys[a.Probes[i].Key()] = true
	}
	for i := range b.Probes {
		keys[b.Probes[i].Key()] = true
	}
	return len(keys)
}

// diffTable renders the changes as aligned columns, each side as summary.md's cell text.
func diffTable(doc diffDocument) string {
	var b strings.Builder
	describe := func(r diffRun) string {
		s := r.Path
		var parts []string
		if r.RunID != "" {
			parts = append(parts, "run "+r.RunID)
		}
		if r.IstioVersion != "" {
			parts = append(parts, "Istio "+r.IstioVersion)
		}
		if len(parts) > 0 {
			s += " (" + strings.Join(parts, ", ") + ")"
		}
		return s
	}
	fmt.Fprintf(&b, "A: %s\nB: %s\n", describe(doc.A), describe(doc.B))
	if len(doc.Changes) == 0 {
		fmt.Fprintf(&b, "\nno probe changed (%d compared)\n", doc.Compared)
		return b.String()
	}
	fmt.Fprintf(&b, "\n%d of %d probes changed\n\n", len(doc.Changes), doc.Compared)
	rows := [][]string{{"SCENARIO", "STEP", "PROBE", "A", "B"}}
	for _, c := range doc.Changes {
		probe := fmt.Sprintf("%s → %s:%d", c.From, c.To, c.Port)
		rows = append(rows, []string{c.Scenario, c.Step, probe, sideText(c.A), sideText(c.B)})
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], displayWidth(cell))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for i, cell := range r {
			line.WriteString(cell)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-displayWidth(cell)+2))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	b.WriteString("\n✔ pass · ✘ fail, then the expected outcome · ⚠ infrastructure error · – skipped · 🔒 mutual TLS\n")
	return b.String()
}

// sideText is summary.md's cell for the side's record, or "(not run)" when the run lacks it.
func sideText(s *diffSide) string {
	if s == nil {
		return "(not run)"
	}
	return report.VerdictCell(&report.ProbeRecord{Verdict: s.Verdict, Expected: s.Expected, Observed: s.Observed})
}
