package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoDir is the checkout's root, where the Makefile is.
const repoDir = "../.."

// runMake runs make in the checkout with the given arguments and returns its output and exit code.
func runMake(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", append([]string{"--no-print-directory", "-C", repoDir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestMakeUpgradePreflight: a bad FROM or MODE stops `make upgrade` at the preflight, before the
// suite compiles: the preflight's one line, make's own note, exit 2, and nothing created. (Every
// check the preflight makes is TestPreflightBadInput's; this is the Makefile's wiring.)
func TestMakeUpgradePreflight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"FROM=1.31"}, `upgrade: --from: invalid Istio version "1.31"`},
		{[]string{"MODE=blue"}, `upgrade mode "blue": want inplace or canary`},
	} {
		reports := filepath.Join(t.TempDir(), "reports")
		_, errOut, code := runMake(t, append([]string{"upgrade", "REPORTS_DIR=" + reports}, tc.args...)...)
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
			if !strings.HasPrefix(l, "make: *** ") { // make's note that a recipe failed
				lines = append(lines, l)
			}
		}
		if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "conformance preflight upgrade: ") || !strings.Contains(lines[0], tc.want) {
			t.Errorf("make upgrade %v: exit %d, stderr:\n%s\nwant one preflight line containing %q", tc.args, code, errOut, tc.want)
		}
		if _, err := os.Lstat(reports); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("make upgrade %v created %s", tc.args, reports)
		}
	}
}
