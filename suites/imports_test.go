package suites_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The import boundaries of the module, enforced as Kubernetes enforces its own with
// .import-restrictions (test/e2e/framework never imports its subpackages): what is asserted
// (scenarios/) never depends on how it is probed (suites/framework/, the engine); the engine never
// depends on a suite or on test-only code; the core packages everything else builds on import no
// other engine package. Only production imports count (a package's test files may use test-only
// helpers); the e2e and localcluster build tags are on, so the suites' files count too.
const module = "github.com/mtls-conformance/mtls-conformance/"

// Package groups, by import path below the module.
const (
	enginePrefix   = "suites/framework/"   // how it is probed: the one engine
	testOnlyPrefix = "suites/testsupport/" // fakes, test environments, recorders: tests only
)

// suitePackages hold Ginkgo specs and their glue (suitekit, the one Ginkgo-aware helper package);
// nothing in the engine imports them.
var suitePackages = []string{"suites", "suites/mtls", "suites/upgrade", "suites/localcluster", "suites/suitekit"}

// ginkgoDSL are Ginkgo's and Gomega's spec-writing packages. The engine never depends on them: a
// spec's glue (setup, report, a probe's spec body) is suitekit's. The report package reads
// Ginkgo's report of a finished suite (ginkgo/v2/types, ginkgo/v2/reporters), which is data.
var ginkgoDSL = []string{"github.com/onsi/ginkgo/v2", "github.com/onsi/gomega"}

// corePackages are the engine's foundation (settings, shared vocabulary, clients, the XFCC
// parser): they import no other engine package, so every other package may import them.
var corePackages = []string{"suites/framework/settings", "suites/framework/mesh", "suites/framework/kubeclient", "suites/framework/xfcc"}

// dataPackages say what is asserted and what is pinned: they depend on no engine, suite or tool.
var dataPrefixes = []string{"scenarios", "fixtures", "versions"}

type pkgImports struct {
	path    string
	imports []string // direct, production only
	deps    []string // transitive, production only
	all     []string // transitive, production only, with the packages outside the module
}

func listPackages(t *testing.T) []pkgImports {
	t.Helper()
	cmd := exec.Command("go", "list", "-tags", "e2e,localcluster", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "../...")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	var pkgs []pkgImports
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "|")
		if len(fields) != 3 || !strings.HasPrefix(fields[0], module) {
			continue
		}
		pkgs = append(pkgs, pkgImports{path: local(fields[0]), imports: locals(fields[1]), deps: locals(fields[2]), all: strings.Fields(fields[2])})
	}
	if len(pkgs) == 0 {
		t.Fatal("go list listed no package of the module")
	}
	return pkgs
}

// local strips the module path; "" for packages outside the module.
func local(path string) string {
	if !strings.HasPrefix(path, module) {
		return ""
	}
	return strings.TrimPrefix(path, module)
}

func locals(list string) []string {
	var out []string
	for _, p := range strings.Fields(list) {
		if l := local(p); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func under(path, prefix string) bool {
	return path == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(path, strings.TrimSuffix(prefix, "/")+"/")
}

func isSuite(path string) bool {
	for _, s := range suitePackages {
		if path == s {
			return true
		}
	}
	return false
}

func TestImportBoundaries(t *testing.T) {
	pkgs := listPackages(t)
	found := map[string]bool{}
	for _, p := range pkgs {
		found[p.path] = true
	}
	for _, want := range append(slices.Clone(corePackages), suitePackages...) {
		if !found[want] {
			t.Errorf("package %s is named by a rule but does not exist", want)
		}
	}
	for _, p := range pkgs {
		for _, prefix := range dataPrefixes {
			if !under(p.path, prefix) {
				continue
			}
			for _, d := range p.deps {
				if under(d, "suites") || under(d, "tools") {
					t.Errorf("%s depends on %s: scenarios, fixtures and versions say what is asserted and pinned, never how it is probed", p.path, d)
				}
			}
		}
		if under(p.path, enginePrefix) {
			for _, d := range p.deps {
				if isSuite(d) || under(d, testOnlyPrefix) {
					t.Errorf("engine package %s depends on %s: the engine imports no suite and no test-only package", p.path, d)
				}
			}
			for _, d := range p.all {
				if slices.Contains(ginkgoDSL, d) {
					t.Errorf("engine package %s depends on %s: the engine knows nothing about Ginkgo; spec glue goes in suites/suitekit", p.path, d)
				}
			}
		}
		if under(p.path, "tools/conformance") {
			for _, d := range p.deps {
				if isSuite(d) || under(d, testOnlyPrefix) {
					t.Errorf("the CLI %s depends on %s: it imports no suite and no test-only package", p.path, d)
				}
			}
		}
		for _, core := range corePackages {
			if p.path != core {
				continue
			}
			for _, d := range p.imports {
				if under(d, enginePrefix) {
					t.Errorf("core package %s imports %s: the core imports no other engine package", p.path, d)
				}
			}
		}
		// Test-only packages are never the engine's and never under it.
		if under(p.path, enginePrefix) && (strings.HasSuffix(p.path, "test") || strings.HasSuffix(p.path, "testenv") || strings.HasSuffix(p.path, "dryrun")) {
			t.Errorf("%s looks test-only but lives in the engine: move it under %s", p.path, testOnlyPrefix)
		}
	}
}
