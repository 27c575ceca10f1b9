package report

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

// FailureLines is how many lines of a failure message summary.md shows; results.json and the
// JUnit file have the whole message.
const FailureLines = 6

// VerdictCell is a record as one cell of summary.md's grid: ✔ and what was observed when it
// passed; ✘, what was observed and what was wanted when it did not.
func VerdictCell(r *ProbeRecord) string {
	switch r.Verdict {
	case VerdictPass:
		return "✔ " + observedText(r)
	case VerdictSkipped:
		return "– skipped"
	case VerdictInfraError:
		return "⚠ " + observedText(r)
	}
	got, want := observedText(r), r.Expected.Cell()
	if got == want {
		// Same status and lock, so the XFCC identities differ: the failure list says how.
		return "✘ " + got + ", XFCC differs"
	}
	return "✘ " + got + ", want " + want
}

func observedText(r *ProbeRecord) string {
	if r.Observed == nil {
		return "no result"
	}
	return r.Observed.Outcome().Cell()
}

// step groups one scenario step's records.
type step struct {
	scenario string
	index    int
	name     string
	records  []*ProbeRecord
}

// groupSteps splits records (in report order) into scenarios and their steps.
func groupSteps(records []ProbeRecord) [][]*step {
	var out [][]*step
	for i := range records {
		r := &records[i]
		if len(out) == 0 || out[len(out)-1][0].scenario != r.Scenario {
			out = append(out, nil)
		}
		steps := out[len(out)-1]
		if len(steps) == 0 || steps[len(steps)-1].index != r.StepIndex || steps[len(steps)-1].name != r.Step {
			steps = append(steps, &step{scenario: r.Scenario, index: r.StepIndex, name: r.Step})
			out[len(out)-1] = steps
		}
		steps[len(steps)-1].records = append(steps[len(steps)-1].records, r)
	}
	return out
}

// RenderSummary renders summary.md: the run's environment and totals, the infrastructure
// failures, then for every scenario step the grid, its convergence time and the first lines of
// each failure.
func RenderSummary(res *Results) []byte {
	var b strings.Builder
	h := res.Header
	fmt.Fprintf(&b, "# mTLS conformance run %s\n\n", h.RunID)
	b.WriteString("| | |\n|---|---|\n")
	row := func(name, value string) {
		if value == "" {
			value = "–"
		}
		fmt.Fprintf(&b, "| %s | %s |\n", name, value)
	}
	row("Istio", h.IstioVersion)
	row("Kubernetes", h.KubernetesVersion)
	row("Kind node image", code(h.NodeImage))
	row("Cluster mode", h.ClusterMode)
	row("Topology", h.Topology)
	row("Started", timeText(h.Started))
	finished := timeText(h.Finished)
	if !h.Started.IsZero() && !h.Finished.IsZero() {
		finished += " (took " + h.Finished.Sub(h.Started).Round(time.Second).String() + ")"
	}
	row("Finished", finished)
	b.WriteString("\n")

	counts := res.Count()
	total := len(res.Probes)
	tally := fmt.Sprintf("%d passed · %d failed · %d infrastructure errors · %d skipped",
		counts[VerdictPass], counts[VerdictFail], counts[VerdictInfraError], counts[VerdictSkipped])
	switch {
	case h.Interrupted:
		// Before any other headline: whatever follows is partial.
		fmt.Fprintf(&b, "**⚠ interrupted (%s): the run did not finish** · %d probes recorded: %s\n\n", h.InterruptedBy, total, tally)
	case len(h.InfrastructureFailures) > 0:
		fmt.Fprintf(&b, "**✘ setup failed (%d infrastructure failures)** · %d probes recorded: %s\n\n", len(h.InfrastructureFailures), total, tally)
	case total == 0:
		b.WriteString("**No probe was recorded.**\n\n")
	case counts[VerdictPass] == total:
		fmt.Fprintf(&b, "**✔ all %d probes passed**\n\n", total)
	case counts[VerdictPass]+counts[VerdictSkipped] == total:
		// Skipped probes (a scenario that cannot run here, with its reason below) failed nothing.
		fmt.Fprintf(&b, "**✔ all %d probes that ran passed** · %d skipped\n\n", counts[VerdictPass], counts[VerdictSkipped])
	default:
		fmt.Fprintf(&b, "**✘ %d of %d probes did not pass** · %s\n\n", total-counts[VerdictPass], total, tally)
	}

	if len(h.InfrastructureFailures) > 0 {
		b.WriteString("## Infrastructure failures\n\n")
		for _, f := range h.InfrastructureFailures {
			fmt.Fprintf(&b, "- **%s** failed after %s\n", f.Step, msText(f.DurationMs))
			writeExcerpt(&b, f.Message)
		}
		endParagraph(&b)
	}

	propagation := map[string][]*PropagationRecord{}
	var propagated []string // scenarios in report order
	for i := range res.Propagation {
		r := &res.Propagation[i]
		if propagation[r.Scenario] == nil {
			propagated = append(propagated, r.Scenario)
		}
		propagation[r.Scenario] = append(propagation[r.Scenario], r)
	}
	heading := func(name string) {
		if title := catalog().titles[name]; title != "" {
			fmt.Fprintf(&b, "## %s — %s\n\n", name, title)
		} else {
			fmt.Fprintf(&b, "## %s\n\n", name)
		}
	}
	for _, steps := range groupSteps(res.Probes) {
		name := steps[0].scenario
		heading(name)
		for _, st := range steps {
			fmt.Fprintf(&b, "### Step %d: %s — %s\n\n", st.index+1, st.name, convergenceText(st.records))
			if i := slices.IndexFunc(propagation[name], func(r *PropagationRecord) bool { return r.StepIndex == st.index && r.Step == st.name }); i >= 0 {
				writeStepPropagation(&b, propagation[name][i])
				propagation[name] = slices.Delete(propagation[name], i, i+1)
			}
			writeGrid(&b, st.records)
			writeFailures(&b, st.records)
		}
		writeOtherPropagation(&b, propagation[name])
		delete(propagation, name)
	}
	// Steps that moved the mesh without recording probes (a label filter left them out).
	for _, name := range propagated {
		if records, ok := propagation[name]; ok {
			heading(name)
			writeOtherPropagation(&b, records)
		}
	}
	b.WriteString("✔ expected outcome · ✘ unexpected, then the expected one · 🔒 mutual TLS (XFCC present) · " +
		"000 (exit 56) connection reset · 503 the client's sidecar could not connect · ⚠ infrastructure error · – skipped\n")
	return []byte(b.String())
}

// propagationText says how a step reached the sidecars before it was probed.
func propagationText(r *PropagationRecord) string {
	var details []string
	if r.PushSeenOn != "" {
		details = append(details, "istiod's push seen on "+r.PushSeenOn)
	}
	if r.Note != "" {
		details = append(details, r.Note)
	}
	suffix := ""
	if len(details) > 0 {
		suffix = " (" + strings.Join(details, "; ") + ")"
	}
	switch {
	case r.InForce && len(r.Proxies) == 0:
		return "No " + r.ProxyKind() + " to wait on" + suffix
	case r.InForce:
		return fmt.Sprintf("In force on %d %ss %s after the change%s", len(r.Proxies), r.ProxyKind(), msText(r.DurationMs), suffix)
	}
	return fmt.Sprintf("✘ Not in force on every %s after %s", r.ProxyKind(), msText(r.DurationMs))
}

// writeStepPropagation writes, under a step's heading, how the step reached the sidecars.
func writeStepPropagation(b *strings.Builder, r *PropagationRecord) {
	if r.InForce {
		fmt.Fprintf(b, "%s; probed after that.\n\n", propagationText(r))
		return
	}
	fmt.Fprintf(b, "%s; the step's probes were not run:\n", propagationText(r))
	writeExcerpt(b, r.Message)
}

// writeOtherPropagation writes a scenario's propagation records that have no probes of their own:
// its reset to the baseline, and steps a label filter left without probes.
func writeOtherPropagation(b *strings.Builder, records []*PropagationRecord) {
	for _, r := range records {
		what := fmt.Sprintf("Step %d (%s, not probed)", r.StepIndex+1, r.Step)
		if r.Step == ResetStep {
			what = "Reset to the baseline"
		}
		text := lowerFirstLetter(propagationText(r))
		if r.InForce {
			fmt.Fprintf(b, "%s: %s.\n\n", what, text)
			continue
		}
		fmt.Fprintf(b, "%s: %s:\n", what, text)
		writeExcerpt(b, r.Message)
	}
}

// lowerFirstLetter lowercases a sentence's first letter, after any mark before it ("✘ ").
func lowerFirstLetter(s string) string {
	for i, r := range s {
		if unicode.IsLetter(r) {
			return s[:i] + string(unicode.ToLower(r)) + s[i+utf8.RuneLen(r):]
		}
	}
	return s
}

// convergenceText says how long the step took to converge: the slowest passing probe's time
// to a stable expected outcome, since the step is converged only when every probe is.
func convergenceText(records []*ProbeRecord) string {
	var slowest int64
	attempts, passed, ran := 0, 0, 0
	for _, r := range records {
		if r.Verdict == VerdictSkipped {
			continue
		}
		ran++
		if r.Verdict == VerdictPass {
			passed++
			slowest = max(slowest, r.ConvergeMs)
			attempts = max(attempts, r.Attempts)
		}
	}
	switch {
	case ran == 0:
		return "skipped"
	case passed == ran:
		return fmt.Sprintf("converged in %s (%d of %d probes passed, at most %d attempts)", msText(slowest), passed, len(records), attempts)
	case passed == 0:
		return fmt.Sprintf("✘ did not converge: none of %d probes passed", ran)
	}
	return fmt.Sprintf("✘ did not converge: %d of %d probes did not pass (the others converged within %s)", ran-passed, ran, msText(slowest))
}

// writeGrid writes the step's from×to table: a row per client, a column per Service port, in
// the records' (matrix) order.
func writeGrid(b *strings.Builder, records []*ProbeRecord) {
	type col struct {
		to   fixtures.Ref
		port int
	}
	var rows []fixtures.Ref
	var cols []col
	cells := map[scenarios.Probe]*ProbeRecord{}
	for _, r := range records {
		if !slices.Contains(rows, r.From) {
			rows = append(rows, r.From)
		}
		if c := (col{r.To, r.Port}); !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
		cells[r.Probe()] = r
	}
	b.WriteString("| from \\ to |")
	for _, c := range cols {
		fmt.Fprintf(b, " %s:%d |", c.to, c.port)
	}
	b.WriteString("\n|---|")
	b.WriteString(strings.Repeat("---|", len(cols)))
	b.WriteString("\n")
	for _, from := range rows {
		fmt.Fprintf(b, "| %s |", from)
		for _, c := range cols {
			text := "·"
			if r, ok := cells[scenarios.Probe{From: from, To: c.to, Port: c.port}]; ok {
				text = VerdictCell(r)
			}
			fmt.Fprintf(b, " %s |", text)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// writeFailures lists the records that did not pass, expected and observed side by side, with
// the first lines of their message.
func writeFailures(b *strings.Builder, records []*ProbeRecord) {
	var failed []*ProbeRecord
	for _, r := range records {
		if r.Verdict == VerdictFail || r.Verdict == VerdictInfraError {
			failed = append(failed, r)
		}
	}
	if len(failed) == 0 {
		return
	}
	b.WriteString("Failures:\n\n")
	for _, r := range failed {
		observed := "nothing observed"
		if r.Observed != nil {
			observed = r.Observed.Outcome().String()
		}
		fmt.Fprintf(b, "- **%s** (%s after %d attempts): expected %s; observed %s\n", r.Probe(), r.Verdict, r.Attempts, r.Expected, observed)
		writeExcerpt(b, r.Message)
	}
	endParagraph(b)
}

// endParagraph ends a list with one blank line, whether or not its last item had an excerpt.
func endParagraph(b *strings.Builder) {
	if !strings.HasSuffix(b.String(), "\n\n") {
		b.WriteString("\n")
	}
}

// writeExcerpt writes the first FailureLines lines of a message as an indented code block
// inside a list item.
func writeExcerpt(b *strings.Builder, message string) {
	message = strings.TrimRight(message, "\n")
	if message == "" {
		return
	}
	lines := strings.Split(message, "\n")
	more := len(lines) - FailureLines
	if more > 0 {
		lines = append(lines[:FailureLines], fmt.Sprintf("… %d more lines in results.json", more))
	}
	b.WriteString("\n  ```\n")
	for _, l := range lines {
		// A fence inside the message would end the block early.
		fmt.Fprintf(b, "  %s\n", strings.ReplaceAll(l, "```", "'''"))
	}
	b.WriteString("  ```\n\n")
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// msText renders milliseconds the way Go prints durations ("850ms", "4.2s", "1m5s").
func msText(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	if d >= time.Second {
		d = d.Round(100 * time.Millisecond)
	}
	return d.String()
}
