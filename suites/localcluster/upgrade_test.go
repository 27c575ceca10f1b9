//go:build localupgrade && !localcluster

// The upgrade suite (make upgrade) on local kind clusters: this file has its own build tag
// (localupgrade), so the tier's TestMain and its shared cluster are not built with it; each
// `make upgrade` run creates and deletes its own cluster.
//
//	make test-kind-upgrade
package localcluster

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/reporters"
)

// The settings `make test-kind-upgrade` passes on: the local images' (tools/localimages) and
// the second tag of the one local istiod.
func upgradeEnv(t *testing.T) (env []string, version, toTag string) {
	t.Helper()
	for _, key := range []string{"NODE_IMAGE", "ISTIO_VERSION", "ISTIO_CHARTS", "ISTIO_HUB", "ISTIO_TAG", "UPGRADE_TO_TAG", "KIND_CONFIG_PATCH"} {
		if os.Getenv(key) == "" {
			t.Fatalf("%s is not set: run `make test-kind-upgrade`", key)
		}
	}
	version, toTag = os.Getenv("ISTIO_VERSION"), os.Getenv("UPGRADE_TO_TAG")
	if toTag == os.Getenv("ISTIO_TAG") {
		t.Fatalf("UPGRADE_TO_TAG %s is ISTIO_TAG: nothing would tell the new istiod from the old", toTag)
	}
	return os.Environ(), version, toTag
}

// The real upgrade suite, in place and as a canary, from istiod <ISTIO_TAG> to the same build
// tagged <UPGRADE_TO_TAG>, on a cluster without sidecars (INJECT=none). Its junit.xml must show:
// every control-plane step passed, each followed by a passed proof that the new istiod serves;
// every data-plane spec (phases, restarts, the background prober) skipped with the reason, none
// run; and the cluster gone afterwards.
func TestUpgradeSuite(t *testing.T) {
	env, version, toTag := upgradeEnv(t)
	name := os.Getenv("CLUSTER_NAME")
	if name == "" {
		name = "mtls-local-upgrade"
	}
	rev := strings.ReplaceAll(version, ".", "-")
	for _, tc := range []struct {
		mode string
		// steps are the control-plane steps, serving the proofs that follow them.
		steps, serving []string
	}{
		{"inplace",
			[]string{fmt.Sprintf("upgrades the control plane in place: helm upgrade istio-base and istiod to %s (image tag %s)", version, toTag)},
			[]string{fmt.Sprintf("istiod %s alone serves: rolled out, no %s pod left", toTag, os.Getenv("ISTIO_TAG"))}},
		{"canary",
			[]string{
				fmt.Sprintf("installs istiod %s (image tag %s) as revision %s beside %s", version, toTag, rev, version),
				"moves bar and foo to istio.io/rev=" + rev,
				fmt.Sprintf("removes the %s control plane", version),
			},
			[]string{
				fmt.Sprintf("istiod %s serves revision %s beside the old control plane", toTag, rev),
				fmt.Sprintf("revision %s injects new pods in bar and foo", rev),
				fmt.Sprintf("revision %s alone serves: no %s pod left", rev, os.Getenv("ISTIO_TAG")),
			}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			reports := t.TempDir()
			cluster := name + "-" + tc.mode
			cmd := exec.Command("make", "--no-print-directory", "upgrade")
			cmd.Dir = "../.."
			cmd.Env = append(env, "CLUSTER=kind", "CLUSTER_NAME="+cluster, "LOAD_IMAGES=1", "INJECT=none",
				"KEEP_CLUSTER=", "REUSE_CLUSTER=", "REPORTS_DIR="+reports,
				"UPGRADE_FROM="+version, "UPGRADE_TO="+version, "UPGRADE_MODE="+tc.mode, "MAKEFLAGS=", "MAKELEVEL=")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			t.Logf("make upgrade (%s): %s", tc.mode, time.Since(start).Round(time.Second))
			if err != nil {
				t.Errorf("make upgrade: %v\n%s", err, tail(out.String(), 60))
			}
			cases := junitCases(t, filepath.Join(reports, "latest", "junit.xml"))
			for _, want := range append(append([]string{}, tc.steps...), tc.serving...) {
				c, ok := findCase(cases, want)
				switch {
				case !ok:
					t.Errorf("no spec %q", want)
				case c.Status != "passed":
					t.Errorf("%s: %s, want passed: %s", c.Name, c.Status, failureText(c))
				}
			}
			dataPlane, skippedWithReason := 0, 0
			for _, c := range cases {
				if c.Status == "failed" || c.Status == "panicked" || c.Status == "interrupted" || c.Status == "timedout" {
					t.Errorf("%s: %s: %s", c.Name, c.Status, failureText(c))
				}
				if !isDataPlane(c.Name) {
					continue
				}
				dataPlane++
				if c.Status != "skipped" {
					t.Errorf("data-plane spec %s: %s without sidecars, want skipped", c.Name, c.Status)
					continue
				}
				if c.Skipped != nil && strings.Contains(c.Skipped.Message, "no sidecars (INJECT=none)") {
					skippedWithReason++
				} else {
					t.Errorf("data-plane spec %s skipped without the reason: %+v", c.Name, c.Skipped)
				}
			}
			if dataPlane == 0 {
				t.Error("no data-plane spec in the report")
			}
			t.Logf("%s: %d specs; control-plane steps and serving proofs passed; %d data-plane specs skipped with the reason", tc.mode, len(cases), skippedWithReason)
			if left := kindContainers(cluster); left != "" {
				t.Errorf("kind containers left: %s", left)
			}
		})
	}
}

// isDataPlane: a phase's spec, a restart, or the background prober.
func isDataPlane(name string) bool {
	return strings.Contains(name, "phase ") || strings.Contains(name, "restarts the workloads") || strings.Contains(name, "background prober")
}

func junitCases(t *testing.T, path string) []reporters.JUnitTestCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("junit.xml: %v", err)
	}
	var suites reporters.JUnitTestSuites
	if err := xml.Unmarshal(data, &suites); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var cases []reporters.JUnitTestCase
	for _, s := range suites.TestSuites {
		cases = append(cases, s.TestCases...)
	}
	return cases
}

func findCase(cases []reporters.JUnitTestCase, sub string) (reporters.JUnitTestCase, bool) {
	for _, c := range cases {
		if strings.Contains(c.Name, sub) {
			return c, true
		}
	}
	return reporters.JUnitTestCase{}, false
}

func failureText(c reporters.JUnitTestCase) string {
	if c.Failure != nil {
		return tail(c.Failure.Message+"\n"+c.Failure.Description, 20)
	}
	if c.Error != nil {
		return tail(c.Error.Message+"\n"+c.Error.Description, 20)
	}
	return ""
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func kindContainers(cluster string) string {
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster="+cluster, "--format", "{{.Names}}").CombinedOutput()
	if err != nil {
		return "docker ps failed: " + strings.TrimSpace(string(out))
	}
	return strings.TrimSpace(string(out))
}
