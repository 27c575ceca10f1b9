package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestConformancePredictEngineIstio drives the user's entry point, `conformance predict --engine
// istio`, with the policies on stdin (read once by the CLI and handed on to this command), and
// requires the same document as the oracle engine.
func TestConformancePredictEngineIstio(t *testing.T) {
	predict := func(engine string) string {
		cmd := exec.Command("go", "run", "./tools/conformance", "predict", "--engine", engine, "-o", "json", "-f", "-")
		cmd.Dir = "../../../.."
		cmd.Stdin = strings.NewReader(policies)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("predict --engine %s: %v: %s", engine, err, stderr.String())
		}
		return stdout.String()
	}
	oracle, istio := predict("oracle"), predict("istio")
	if strings.Count(oracle, `"exitCode": 56`) != 6 {
		t.Fatalf("oracle: want 6 resets for foo STRICT:\n%s", oracle)
	}
	if istio != oracle {
		t.Fatalf("--engine istio differs from the oracle:\n%s\nvs\n%s", istio, oracle)
	}
}
