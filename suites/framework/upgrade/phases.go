package upgrade

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
)

// PhasesDir holds, inside a run folder, one results.json per phase of the upgrade, each with the
// catalog's own scenario names, so that `conformance diff` compares two phases probe by probe:
//
//	go run ./tools/conformance diff reports/latest/phases/1-before reports/latest/phases/3-after
const PhasesDir = "phases"

var phaseIDRE = regexp.MustCompile(`^[0-9]+-[a-z0-9-]+$`)

// WritePhaseResults writes runDir/phases/<phase>/results.json: the records of one phase as a
// results file of their own (its header: the run id and the environment with the control plane
// versions in force), and returns the folder.
func WritePhaseResults(runDir, phase string, env report.Environment, records []report.ProbeRecord) (string, error) {
	if !phaseIDRE.MatchString(phase) {
		return "", fmt.Errorf("phase id %q is not <number>-<words>", phase)
	}
	res := &report.Results{
		Header: report.Header{RunID: filepath.Base(runDir), Environment: env, Finished: time.Now().UTC()},
		Probes: append([]report.ProbeRecord{}, records...),
	}
	for _, r := range res.Probes {
		if res.Header.Started.IsZero() || r.Time.Before(res.Header.Started) {
			res.Header.Started = r.Time
		}
	}
	data, err := res.Marshal()
	if err != nil {
		return "", err
	}
	// The same checks a reader applies: a phase file diff cannot read is a bug here.
	if _, err := report.ParseResults(data); err != nil {
		return "", fmt.Errorf("phase %s: %w", phase, err)
	}
	dir := filepath.Join(runDir, PhasesDir, phase)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, report.ResultsFile), data, 0o644); err != nil {
		return "", err
	}
	return dir, nil
}
