package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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
	// As a user runs it: not as a sub-make of `make test` (MAKELEVEL would make its notes read
	// "make[1]: ***", MAKEFLAGS would pass make test's variables on).
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "MAKELEVEL" && name != "MAKEFLAGS" && name != "MFLAGS" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
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

// makefileTargets reads the Makefile's commands: its .PHONY targets and every rule target that
// is not a file. An empty rule (no prerequisites, no recipe: the FORCE idiom) is not a command.
func makefileTargets(t *testing.T) (phony, rules []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoDir, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	empty := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_-]+):[ \t]*\n([^\t]|$)`).FindAllStringSubmatch(string(data), -1) {
		empty[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^\.PHONY:(.*)$`).FindAllStringSubmatch(string(data), -1) {
		for _, target := range strings.Fields(m[1]) {
			if !empty[target] {
				phony = append(phony, target)
			}
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_./-]+)\s*:([^=]|$)`).FindAllStringSubmatch(string(data), -1) {
		if !strings.ContainsAny(m[1], "/.") && !empty[m[1]] { // .PHONY, .cache/versions.mk: not commands
			rules = append(rules, m[1])
		}
	}
	return phony, rules
}

// TestMakeHelpListsEveryTarget: bare `make` is `make help`, which lists every target with its
// one-line description; every target that is not a file is .PHONY.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	phony, rules := makefileTargets(t)
	if len(rules) < 10 {
		t.Fatalf("read only %v from the Makefile", rules)
	}
	for _, r := range rules {
		if !slices.Contains(phony, r) {
			t.Errorf("target %s is not .PHONY", r)
		}
	}
	help, errOut, code := runMake(t, "help")
	if code != 0 || errOut != "" {
		t.Fatalf("make help: exit %d, stderr %q", code, errOut)
	}
	bare, _, code := runMake(t)
	if code != 0 || bare != help {
		t.Errorf("bare make (exit %d) printed\n%s\nwant make help's\n%s", code, bare, help)
	}
	for _, target := range phony {
		line := regexp.MustCompile(`(?m)^  make ` + regexp.QuoteMeta(target) + ` +(\S.*)$`).FindStringSubmatch(help)
		if line == nil {
			t.Errorf("make help lacks %s with a description:\n%s", target, help)
		}
	}
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
