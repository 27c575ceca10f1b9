package istio

import (
	"strings"
	"testing"
)

// TestCheckAmbientCharts: the pre-cluster check of an ambient run finds the cni and ztunnel charts
// in Istio's source charts, and names the cni chart a repository without it lacks.
func TestCheckAmbientCharts(t *testing.T) {
	if err := CheckAmbientCharts(Options{ChartsDir: sourceCharts(t), Tag: "1.31.1"}); err != nil {
		t.Errorf("source charts: %v", err)
	}
	url := chartRepo(t, "1.31.1") // base only
	if err := CheckAmbientCharts(Options{RepoURL: url, Version: "1.31.1"}); err == nil || !strings.Contains(err.Error(), "has no cni chart at version 1.31.1") {
		t.Errorf("repository without cni: %v", err)
	}
}
