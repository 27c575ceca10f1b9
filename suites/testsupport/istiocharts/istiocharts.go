// Package istiocharts finds istio/istio's own Helm charts (manifests/charts) for the tests that
// install them on the real apiserver tier: the istio.io/istio source module versions.yaml pins
// (istio.sourceModule), fetched into the Go module cache with `go mod download` (never required
// by go.mod).
package istiocharts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

var (
	once sync.Once
	dir  string
	err  error
)

// Dir returns the charts folder (base, istio-control/istio-discovery, istio-cni, ztunnel, ...),
// usable as istio.Options.ChartsDir; a fetch that fails fails the test.
func Dir(t testing.TB) string {
	t.Helper()
	once.Do(func() { dir, err = fetch() })
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func fetch() (string, error) {
	pins, err := versions.Load()
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("go", "mod", "download", "-json", "istio.io/istio@"+pins.Istio.SourceModule)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go mod download istio.io/istio@%s: %v: %s %s", pins.Istio.SourceModule, err, stderr.String(), stdout.String())
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &mod); err != nil {
		return "", err
	}
	if mod.Error != "" || mod.Dir == "" {
		return "", fmt.Errorf("go mod download istio.io/istio: %s", mod.Error)
	}
	return filepath.Join(mod.Dir, "manifests", "charts"), nil
}
