package versions_test

// The GitHub Actions workflows (.github/workflows) read every version pin from versions.yaml:
// these tests parse them with actionlint's own parser, run the scripts that generate their
// matrices exactly as written, and check that no workflow names a version the file does not hold.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

const workflowsDir = "../.github/workflows"

// The workflows this repository has; a new one must be added here (and so get these checks).
var workflowFiles = []string{"ci.yml", "conformance.yml", "pins.yml", "publish-results.yml", "upgrade.yml"}

func pins(t *testing.T) *versions.Versions {
	t.Helper()
	v, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func workflow(t *testing.T, name string) *actionlint.Workflow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(workflowsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	w, errs := actionlint.Parse(data)
	if len(errs) > 0 {
		t.Fatalf("%s: %v", name, errs[0])
	}
	return w
}

func job(t *testing.T, w *actionlint.Workflow, id string) *actionlint.Job {
	t.Helper()
	j, ok := w.Jobs[id]
	if !ok {
		t.Fatalf("workflow %q has no job %q", w.Name.Value, id)
	}
	return j
}

// runStep finds the step whose run script contains marker.
func runStep(t *testing.T, j *actionlint.Job, marker string) (*actionlint.Step, string) {
	t.Helper()
	for _, s := range j.Steps {
		if run, ok := s.Exec.(*actionlint.ExecRun); ok && strings.Contains(run.Run.Value, marker) {
			return s, run.Run.Value
		}
	}
	t.Fatalf("job %s has no step running %q", j.ID.Value, marker)
	return nil, ""
}

func actionSteps(j *actionlint.Job, uses string) []*actionlint.Step {
	var out []*actionlint.Step
	for _, s := range j.Steps {
		if a, ok := s.Exec.(*actionlint.ExecAction); ok && strings.HasPrefix(a.Uses.Value, uses+"@") {
			out = append(out, s)
		}
	}
	return out
}

func input(s *actionlint.Step, name string) string {
	if in, ok := s.Exec.(*actionlint.ExecAction).Inputs[name]; ok {
		return in.Value.Value
	}
	return ""
}

func env(e *actionlint.Env, name string) string {
	if e == nil {
		return ""
	}
	if v, ok := e.Vars[strings.ToLower(name)]; ok {
		return v.Value.Value
	}
	return ""
}

// runScript runs a step's script the way GitHub's runner does for a `run:` without `shell:` on
// Linux (bash -e), from the repository root, and returns what it wrote to $GITHUB_OUTPUT.
func runScript(t *testing.T, script string, vars map[string]string) (map[string]string, string, error) {
	t.Helper()
	if strings.Contains(script, "${{") {
		t.Fatalf("script interpolates an expression; pass it through env instead:\n%s", script)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	output := filepath.Join(dir, "github_output")
	cmd := exec.Command("bash", "--noprofile", "--norc", "-e", file)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GITHUB_OUTPUT="+output, "GITHUB_STEP_SUMMARY="+filepath.Join(dir, "summary"))
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	values := map[string]string{}
	if data, rerr := os.ReadFile(output); rerr == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				values[k] = v
			}
		}
	}
	return values, out.String(), err
}

// TestActionlint runs actionlint through `go tool` (go.mod's tool directive) on every workflow,
// as `make lint` does, and on a broken copy, which it must reject.
func TestActionlint(t *testing.T) {
	cmd := exec.Command("go", "tool", "actionlint", "-color=false")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(workflowsDir, "conformance.yml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.yml")
	// A matrix read from a job that does not exist.
	if err := os.WriteFile(broken, bytes.ReplaceAll(data, []byte("needs.versions.outputs.matrix"), []byte("needs.version.outputs.matrix")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("go", "tool", "actionlint", "-color=false", broken)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `"version"`) {
		t.Errorf("actionlint accepted a matrix from an unknown job: %v\n%s", err, out)
	}
}

// TestWorkflowsAreBoundedAndPinned: the expected files and no other, a timeout on every job, and
// every action pinned to a released major version (owner/repo@vN).
func TestWorkflowsAreBoundedAndPinned(t *testing.T) {
	entries, err := os.ReadDir(workflowsDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, workflowFiles) {
		t.Errorf("workflow files %v, want %v", names, workflowFiles)
	}
	major := regexp.MustCompile(`^[A-Za-z0-9-]+/[A-Za-z0-9._-]+@v[0-9]+$`)
	for _, name := range workflowFiles {
		w := workflow(t, name)
		for id, j := range w.Jobs {
			if j.TimeoutMinutes == nil || j.TimeoutMinutes.Value <= 0 {
				t.Errorf("%s: job %s has no timeout-minutes", name, id)
			}
			for _, s := range j.Steps {
				if a, ok := s.Exec.(*actionlint.ExecAction); ok && !major.MatchString(a.Uses.Value) {
					t.Errorf("%s: job %s uses %s, not owner/repo@vMAJOR", name, id, a.Uses.Value)
				}
			}
		}
	}
}

// TestConformanceMatrixIsTheVersionsFile follows conformance.yml from the job's matrix to the
// step that generates it, runs that step, and compares its output with versions.yaml's matrix.
func TestConformanceMatrixIsTheVersionsFile(t *testing.T) {
	v := pins(t)
	w := workflow(t, "conformance.yml")
	var hooks []string
	for _, e := range w.On {
		hooks = append(hooks, e.EventName())
		if d, ok := e.(*actionlint.WorkflowDispatchEvent); ok {
			for _, in := range []string{"istio_versions", "label_filter"} {
				if _, ok := d.Inputs[in]; !ok {
					t.Errorf("workflow_dispatch has no input %q", in)
				}
			}
		}
	}
	slices.Sort(hooks)
	if !slices.Equal(hooks, []string{"schedule", "workflow_dispatch"}) {
		t.Errorf("triggers %v, want schedule and workflow_dispatch", hooks)
	}
	if w.Concurrency == nil || w.Concurrency.Group == nil || w.Concurrency.Group.Value == "" {
		t.Error("no concurrency group")
	}

	run := job(t, w, "conformance")
	m := regexp.MustCompile(`^\$\{\{ fromJSON\(needs\.([a-z0-9_-]+)\.outputs\.([a-z0-9_-]+)\) \}\}$`).FindStringSubmatch(run.Strategy.Matrix.Expression.Value)
	if m == nil {
		t.Fatalf("the conformance matrix is %q, not fromJSON(needs.<job>.outputs.<name>)", run.Strategy.Matrix.Expression.Value)
	}
	setup := job(t, w, m[1])
	if !slices.ContainsFunc(run.Needs, func(s *actionlint.String) bool { return s.Value == m[1] }) {
		t.Errorf("the conformance job does not need %s", m[1])
	}
	out, ok := setup.Outputs[m[2]]
	if !ok {
		t.Fatalf("job %s has no output %s", m[1], m[2])
	}
	ref := regexp.MustCompile(`^\$\{\{ steps\.([a-z0-9_-]+)\.outputs\.([a-z0-9_-]+) \}\}$`).FindStringSubmatch(out.Value.Value)
	if ref == nil {
		t.Fatalf("output %s is %q", m[2], out.Value.Value)
	}
	step, script := runStep(t, setup, "go run ./tools/conformance versions --matrix")
	if step.ID == nil || step.ID.Value != ref[1] {
		t.Fatalf("the step that runs versions --matrix is not steps.%s", ref[1])
	}
	if env(step.Env, "ISTIO_VERSIONS_INPUT") != "${{ inputs.istio_versions }}" {
		t.Errorf("the matrix step does not take the istio_versions input")
	}
	// The job runs make conformance with the matrix entry's Istio version and node image.
	for k, want := range map[string]string{"ISTIO_VERSION": "${{ matrix.istio }}", "NODE_IMAGE": "${{ matrix.nodeImage }}", "LABEL_FILTER": "${{ inputs.label_filter }}"} {
		if got := env(run.Env, k); got != want {
			t.Errorf("conformance job env %s = %q, want %q", k, got, want)
		}
	}
	runStep(t, run, "make conformance")
	uploads := actionSteps(run, "actions/upload-artifact")
	if !slices.ContainsFunc(uploads, func(s *actionlint.Step) bool {
		return s.If != nil && s.If.Value == "always()" && strings.Contains(input(s, "path"), "reports/")
	}) {
		t.Error("reports/ is not always uploaded")
	}
	if !slices.ContainsFunc(uploads, func(s *actionlint.Step) bool {
		return s.If != nil && s.If.Value == "failure()" && strings.Contains(input(s, "path"), "diagnostics") && strings.Contains(input(s, "path"), "kind-logs")
	}) {
		t.Error("diagnostics and kind's logs are not uploaded on failure")
	}

	want, err := v.MatrixJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, log, err := runScript(t, script, map[string]string{"ISTIO_VERSIONS_INPUT": ""})
	if err != nil {
		t.Fatalf("matrix script: %v\n%s", err, log)
	}
	// Every entry runs on both data planes (DATAPLANE: settings.Dataplanes), sidecar first.
	if w := withDataplanes(t, want); got[ref[2]] != w {
		t.Errorf("scheduled matrix:\n got %s\nwant %s (versions --matrix × data planes)", got[ref[2]], w)
	}
	if env(run.Env, "DATAPLANE") != "${{ matrix.dataplane }}" {
		t.Errorf("conformance job env DATAPLANE = %q, want ${{ matrix.dataplane }}", env(run.Env, "DATAPLANE"))
	}

	// On dispatch, the versions asked for, each on the node image pinned for its minor.
	got, log, err = runScript(t, script, map[string]string{"ISTIO_VERSIONS_INPUT": "1.30.2, " + v.DefaultIstio})
	if err != nil {
		t.Fatalf("matrix script: %v\n%s", err, log)
	}
	var dispatched versions.Matrix
	if err := json.Unmarshal([]byte(got[ref[2]]), &dispatched); err != nil {
		t.Fatalf("dispatched matrix %q: %v", got[ref[2]], err)
	}
	var wantEntries []versions.MatrixEntry
	for _, iv := range []string{"1.30.2", v.DefaultIstio} {
		img, err := v.NodeImageFor(iv)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := versions.ParseNodeImage(img)
		e := versions.MatrixEntry{Istio: iv, Kubernetes: n.Kubernetes, NodeImage: img}
		wantEntries = append(wantEntries, e, e) // sidecar, ambient
	}
	if !slices.Equal(dispatched.Include, wantEntries) {
		t.Errorf("dispatched matrix %+v, want %+v", dispatched.Include, wantEntries)
	}
	_, log, err = runScript(t, script, map[string]string{"ISTIO_VERSIONS_INPUT": "1.28.3"})
	if err == nil || !strings.Contains(log, "no kind node image is pinned for Istio 1.28") {
		t.Errorf("an unpinned minor was accepted: %v\n%s", err, log)
	}
}

// TestUpgradeWorkflowIsNMinusOneToN runs upgrade.yml's plan step: by default it upgrades from the
// second-newest to the newest pinned release, in both modes, and the upgrade job passes its
// outputs to make upgrade.
func TestUpgradeWorkflowIsNMinusOneToN(t *testing.T) {
	v := pins(t)
	w := workflow(t, "upgrade.yml")
	plan := job(t, w, "plan")
	step, script := runStep(t, plan, "go run ./tools/conformance versions")
	for out, wantStep := range map[string]string{"from": "from", "to": "to", "modes": "modes"} {
		if o, ok := plan.Outputs[out]; !ok || o.Value.Value != "${{ steps."+step.ID.Value+".outputs."+wantStep+" }}" {
			t.Errorf("plan output %s is not the plan step's", out)
		}
	}
	up := job(t, w, "upgrade")
	if up.Strategy.Matrix.Rows["mode"] == nil || up.Strategy.Matrix.Rows["mode"].Expression.Value != "${{ fromJSON(needs.plan.outputs.modes) }}" {
		t.Error("the upgrade matrix is not the plan's modes")
	}
	for k, want := range map[string]string{"FROM": "${{ needs.plan.outputs.from }}", "TO": "${{ needs.plan.outputs.to }}", "MODE": "${{ matrix.mode }}"} {
		if got := env(up.Env, k); got != want {
			t.Errorf("upgrade job env %s = %q, want %q", k, got, want)
		}
	}
	runStep(t, up, `make upgrade FROM="$FROM" TO="$TO" MODE="$MODE"`)
	runStep(t, up, "go run ./tools/conformance diff")

	rel := v.IstioVersions()
	got, log, err := runScript(t, script, map[string]string{"FROM_INPUT": "", "TO_INPUT": "", "MODE_INPUT": ""})
	if err != nil {
		t.Fatalf("plan script: %v\n%s", err, log)
	}
	if got["from"] != rel[1] || got["to"] != rel[0] || got["modes"] != `["inplace","canary"]` {
		t.Errorf("default plan %v, want %s → %s in both modes", got, rel[1], rel[0])
	}
	got, log, err = runScript(t, script, map[string]string{"FROM_INPUT": rel[2], "TO_INPUT": rel[1], "MODE_INPUT": "canary"})
	if err != nil {
		t.Fatalf("plan script: %v\n%s", err, log)
	}
	if got["from"] != rel[2] || got["to"] != rel[1] || got["modes"] != `["canary"]` {
		t.Errorf("dispatched plan %v", got)
	}
	if _, log, err := runScript(t, script, map[string]string{"FROM_INPUT": "v1.30.5", "MODE_INPUT": "both"}); err == nil || !strings.Contains(log, `invalid Istio version "v1.30.5"`) {
		t.Errorf("a malformed version was accepted: %v\n%s", err, log)
	}
	if _, log, err := runScript(t, script, map[string]string{"MODE_INPUT": "bluegreen"}); err == nil || !strings.Contains(log, "mode bluegreen: want both, inplace or canary") {
		t.Errorf("an unknown mode was accepted: %v\n%s", err, log)
	}
}

// TestPublisherCoversEveryJUnit: the workflow_run publisher listens to the workflows that upload
// JUnit, by their names; only it may write checks; it finds their reports and event file under
// the artifact names they upload.
func TestPublisherCoversEveryJUnit(t *testing.T) {
	pub := workflow(t, "publish-results.yml")
	var listened []string
	for _, e := range pub.On {
		if h, ok := e.(*actionlint.WebhookEvent); ok && h.Hook.Value == "workflow_run" {
			for _, name := range h.Workflows {
				listened = append(listened, name.Value)
			}
		}
	}
	j := job(t, pub, "publish")
	if j.Permissions == nil || j.Permissions.Scopes["checks"] == nil || j.Permissions.Scopes["checks"].Value.Value != "write" {
		t.Error("the publisher cannot write checks")
	}
	publish := actionSteps(j, "EnricoMi/publish-unit-test-result-action")
	if len(publish) != 1 {
		t.Fatal("no EnricoMi/publish-unit-test-result-action step")
	}
	files, eventFile := input(publish[0], "files"), input(publish[0], "event_file")
	for _, name := range []string{"conformance.yml", "upgrade.yml"} {
		w := workflow(t, name)
		if !slices.Contains(listened, w.Name.Value) {
			t.Errorf("the publisher does not listen to %q (%s)", w.Name.Value, name)
		}
		if w.Permissions == nil || w.Permissions.Scopes["checks"] != nil || w.Permissions.Scopes["contents"] == nil || w.Permissions.Scopes["contents"].Value.Value != "read" {
			t.Errorf("%s: permissions should be contents: read only", name)
		}
		var artifacts []string
		for _, jj := range w.Jobs {
			for _, s := range actionSteps(jj, "actions/upload-artifact") {
				artifacts = append(artifacts, input(s, "name"))
			}
		}
		if !slices.ContainsFunc(artifacts, func(a string) bool { return strings.HasPrefix(a, "reports-") }) || !strings.HasPrefix(files, "artifacts/reports-*/") {
			t.Errorf("%s uploads %v; the publisher reads %s", name, artifacts, files)
		}
		if !slices.Contains(artifacts, "event-file") || eventFile != "artifacts/event-file/event.json" {
			t.Errorf("%s uploads %v; the publisher reads the event file from %s", name, artifacts, eventFile)
		}
	}
}

// pinLike finds what looks like a version pin: a kind node image, or a dotted version
// (optionally v-prefixed, optionally an Istio pre-release).
var (
	nodeImageLike = regexp.MustCompile(`kindest/node:[^\s"',]+`)
	versionLike   = regexp.MustCompile(`(?:^|[^0-9A-Za-z.])v?([0-9]+\.[0-9]+\.[0-9]+(?:-(?:alpha|beta|rc)\.[0-9]+)?)`)
)

// unpinned returns every version-like string in text that versions.yaml does not hold.
func unpinned(v *versions.Versions, text string) []string {
	known := map[string]bool{strings.TrimPrefix(v.Kind.Version, "v"): true, strings.TrimPrefix(v.Envtest.Kubernetes, "v"): true}
	for _, iv := range v.IstioVersions() {
		known[iv] = true
	}
	images := map[string]bool{}
	for _, ref := range v.Kind.NodeImages {
		images[ref] = true
		n, _ := versions.ParseNodeImage(ref)
		known[strings.TrimPrefix(n.Kubernetes, "v")] = true
	}
	var out []string
	for _, img := range nodeImageLike.FindAllString(text, -1) {
		if !images[img] {
			out = append(out, img)
		}
	}
	text = nodeImageLike.ReplaceAllString(text, "")
	for _, m := range versionLike.FindAllStringSubmatch(text, -1) {
		if !known[m[1]] {
			out = append(out, m[1])
		}
	}
	return out
}

// TestNoWorkflowHardCodesAPin: versions come from versions.yaml at run time, so no workflow holds
// an Istio version, Kubernetes version or node image that the file does not.
func TestNoWorkflowHardCodesAPin(t *testing.T) {
	v := pins(t)
	for _, name := range workflowFiles {
		data, err := os.ReadFile(filepath.Join(workflowsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bad := unpinned(v, string(data)); len(bad) > 0 {
			t.Errorf("%s names %v, which versions/versions.yaml does not pin", name, bad)
		}
	}
	// The check itself finds what it is for.
	sample := "ISTIO_VERSION: 1.28.3\nimage: kindest/node:v1.33.1@sha256:abc\nk8s: v1.30.0\nok: " + v.DefaultIstio + " " + v.Istio.Releases[0].NodeImage + " actions/checkout@v7"
	if got := unpinned(v, sample); !slices.Equal(got, []string{"kindest/node:v1.33.1@sha256:abc", "1.28.3", "1.30.0"}) {
		t.Errorf("unpinned(sample) = %v", got)
	}
}

// pinsShims puts a fake go and gh first on PATH: `go build -o BIN` writes a BIN that prints
// PINS_LINES and exits PINS_EXIT (what `conformance versions --check` would), and gh appends each
// call's arguments (and any --body-file's content) to $GH_CALLS, answering `issue list` with
// PINS_OPEN_ISSUE.
func pinsShims(t *testing.T) (path, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "gh-calls")
	shims := map[string]string{
		"go": `#!/bin/bash
if [ "$1" != build ] || [ "$2" != -o ]; then echo "fake go: unexpected $*" >&2; exit 99; fi
case " $* " in *" ./tools/conformance "*) ;; *) echo "fake go: not building ./tools/conformance: $*" >&2; exit 99;; esac
printf '#!/bin/bash\nif [ "$*" != "versions --check" ]; then echo "fake conformance: unexpected $*" >&2; exit 99; fi\nprintf "%%s" "$PINS_LINES"\nexit "$PINS_EXIT"\n' >"$3"
chmod +x "$3"
`,
		"gh": `#!/bin/bash
echo "gh $*" >>"$GH_CALLS"
prev=""
for a in "$@"; do
  if [ "$prev" = --body-file ]; then echo "body: $(cat "$a")" >>"$GH_CALLS"; fi
  prev=$a
done
if [ "$1 $2" = "issue list" ]; then printf '%s' "$PINS_OPEN_ISSUE"; fi
`,
	}
	for name, body := range shims {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir + string(os.PathListSeparator) + os.Getenv("PATH"), calls
}

// TestPinsWorkflow: pins.yml runs `conformance versions --check` weekly (and on demand) with
// issues: write only, and acts on its exit code: 3 (behind) opens the one issue or updates the
// open one with the lines, 0 closes it, 1 (a source unreachable) fails the run and touches no
// issue. The check is built, not `go run`: go run reports every non-zero exit as 1.
func TestPinsWorkflow(t *testing.T) {
	w := workflow(t, "pins.yml")
	var hooks []string
	for _, e := range w.On {
		hooks = append(hooks, e.EventName())
	}
	slices.Sort(hooks)
	if !slices.Equal(hooks, []string{"schedule", "workflow_dispatch"}) {
		t.Errorf("triggers %v, want schedule and workflow_dispatch", hooks)
	}
	if w.Permissions == nil || len(w.Permissions.Scopes) != 2 || w.Permissions.Scopes["issues"] == nil || w.Permissions.Scopes["issues"].Value.Value != "write" ||
		w.Permissions.Scopes["contents"] == nil || w.Permissions.Scopes["contents"].Value.Value != "read" {
		t.Error("permissions should be issues: write and contents: read only")
	}
	j := job(t, w, "pins")
	step, script := runStep(t, j, "versions --check")
	if !strings.Contains(script, "go build -o") || strings.Contains(script, "go run ./tools/conformance versions --check") {
		t.Error("the check must be built and run (go run turns exit 3 into 1)")
	}
	if env(step.Env, "GH_TOKEN") != "${{ github.token }}" {
		t.Error("the check step does not give gh the workflow's token")
	}

	path, calls := pinsShims(t)
	// run returns gh's calls, and the script's output with its error when it fails.
	run := func(code, lines, openIssue string) (string, error) {
		t.Helper()
		_ = os.Remove(calls)
		_, log, err := runScript(t, script, map[string]string{
			"PATH": path, "GH_CALLS": calls, "RUNNER_TEMP": t.TempDir(), "GH_TOKEN": "x",
			"PINS_EXIT": code, "PINS_LINES": lines, "PINS_OPEN_ISSUE": openIssue,
		})
		data, _ := os.ReadFile(calls)
		if err != nil {
			return string(data), fmt.Errorf("%v\n%s", err, log)
		}
		return string(data), nil
	}
	behind := "istio 1.31: 1.31.1 pinned, 1.31.2 released\nkind: v0.33.0 pinned, v0.34.0 released\n"

	// Behind, no open issue: one gh issue create with the fixed title and the lines.
	got, err := run("3", behind, "")
	if err != nil {
		t.Fatalf("behind: the step failed: %v; gh calls:\n%s", err, got)
	}
	if !strings.Contains(got, "gh issue create") || !strings.Contains(got, "--title Pins behind their releases") ||
		!strings.Contains(got, "istio 1.31: 1.31.1 pinned, 1.31.2 released") || !strings.Contains(got, "kind: v0.33.0 pinned, v0.34.0 released") ||
		strings.Contains(got, "gh issue edit") {
		t.Errorf("behind without an open issue: gh calls\n%s\nwant one issue create with the lines", got)
	}
	// Behind, issue 42 open: it is edited, no second issue.
	got, err = run("3", behind, "42\n")
	if err != nil {
		t.Fatalf("behind: the step failed: %v; gh calls:\n%s", err, got)
	}
	if !strings.Contains(got, "gh issue edit 42") || strings.Contains(got, "gh issue create") || !strings.Contains(got, "kind: v0.33.0 pinned, v0.34.0 released") {
		t.Errorf("behind with issue 42 open: gh calls\n%s\nwant issue edit 42 with the lines", got)
	}
	// Nothing behind: the open issue is closed; none is created.
	got, err = run("0", "no pin is behind: istio 1.31.1; kind v0.33.0\n", "42\n")
	if err != nil || !strings.Contains(got, "gh issue close 42") || strings.Contains(got, "gh issue create") || strings.Contains(got, "gh issue edit") {
		t.Errorf("nothing behind with issue 42 open: err %v, gh calls\n%s\nwant issue close 42 only", err, got)
	}
	got, err = run("0", "no pin is behind: istio 1.31.1; kind v0.33.0\n", "")
	if err != nil || strings.Contains(got, "gh issue create") || strings.Contains(got, "gh issue close") {
		t.Errorf("nothing behind, no issue: err %v, gh calls\n%s", err, got)
	}
	// A source unreachable (1) or bad input (2): the run fails and no issue is touched.
	for _, code := range []string{"1", "2"} {
		got, err = run(code, "", "42\n")
		if err == nil {
			t.Errorf("exit %s: the step succeeded, want it to fail", code)
		}
		if strings.Contains(got, "gh issue") {
			t.Errorf("exit %s: gh calls\n%s\nwant none", code, got)
		}
	}
}

// withDataplanes is the conformance workflow's matrix: versions --matrix's entries, each on the
// sidecar and then the ambient data plane, as compact JSON (jq -c's key order: the entry's, then
// dataplane).
func withDataplanes(t *testing.T, matrix string) string {
	t.Helper()
	var m struct {
		Include []json.RawMessage `json:"include"`
	}
	if err := json.Unmarshal([]byte(matrix), &m); err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, e := range m.Include {
		var compact bytes.Buffer
		if err := json.Compact(&compact, e); err != nil {
			t.Fatal(err)
		}
		body := strings.TrimSuffix(compact.String(), "}")
		for _, dp := range []string{"sidecar", "ambient"} {
			entries = append(entries, body+`,"dataplane":"`+dp+`"}`)
		}
	}
	return `{"include":[` + strings.Join(entries, ",") + `]}`
}
