package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// istioPredictDir is the nested module that links Istio's own config generator; it is kept out
// of the main module so that istio.io/istio never becomes a dependency of the suite.
const istioPredictDir = "tools/istiogen"

// predictWithIstio answers with Istio's generator by running tools/istiogen's istio-predict,
// which takes the same flags and prints the same JSON.
func predictWithIstio(files []string, stdin []byte, inject []string, trustDomain string) ([]scenarios.ProbeOutcome, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	args := []string{"run", "./cmd/istio-predict", "-o", "json", "--trust-domain", trustDomain}
	for _, f := range files {
		if f != "-" {
			if f, err = filepath.Abs(f); err != nil {
				return nil, err
			}
		}
		args = append(args, "-f", f)
	}
	for _, ns := range inject {
		args = append(args, "--inject", ns)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join(root, istioPredictDir)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("istio engine: %s", firstLine(stderr.String(), err))
	}
	var p prediction
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		return nil, fmt.Errorf("istio engine: unreadable output: %v", err)
	}
	return p.Probes, nil
}

// repoRoot finds the checkout that holds the nested module (the engine needs its sources):
// settings.RepoRoot, the one root finder.
func repoRoot() (string, error) {
	if root, ok := settings.RepoRoot(); ok {
		if _, err := os.Stat(filepath.Join(root, istioPredictDir, "go.mod")); err == nil {
			return root, nil
		}
	}
	return "", fmt.Errorf("--engine istio needs a checkout of this repository (%s not found above the working directory)", istioPredictDir)
}

func firstLine(s string, fallback error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return fallback.Error()
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}
