// Package dryrun lists an e2e suite's specs without a cluster, through `go tool ginkgo
// --dry-run` and Ginkgo's JSON report, for the tests that check what the suites enumerate.
package dryrun

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// Spec is one It: its full text (containers and leaf) and its labels, inherited ones included.
type Spec struct {
	Text   string
	Labels []string
}

// HasLabel reports whether the spec carries label.
func (s Spec) HasLabel(label string) bool { return slices.Contains(s.Labels, label) }

// List dry-runs the suite in suiteDir (build tag e2e) with extra ginkgo/suite args (after "--"
// for the suite's own flags) and returns its specs and ginkgo's output. reportDir receives the
// JSON report.
func List(suiteDir, reportDir string, args ...string) ([]Spec, string, error) {
	argv := append([]string{"tool", "ginkgo", "--dry-run", "--no-color", "--tags", "e2e",
		"--json-report=dry.json", "--output-dir=" + reportDir, suiteDir}, args...)
	out, err := exec.Command("go", argv...).CombinedOutput()
	if err != nil {
		return nil, string(out), err
	}
	data, err := os.ReadFile(filepath.Join(reportDir, "dry.json"))
	if err != nil {
		return nil, string(out), err
	}
	var reports []types.Report
	if err := json.Unmarshal(data, &reports); err != nil {
		return nil, string(out), err
	}
	if len(reports) != 1 {
		return nil, string(out), fmt.Errorf("%d suite reports, want 1", len(reports))
	}
	var specs []Spec
	for _, s := range reports[0].SpecReports {
		if s.LeafNodeType == types.NodeTypeIt {
			specs = append(specs, Spec{strings.Join(append(slices.Clone(s.ContainerHierarchyTexts), s.LeafNodeText), " "), s.Labels()})
		}
	}
	return specs, string(out), nil
}
