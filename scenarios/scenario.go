// Package scenarios is the catalog: every documented mTLS behaviour as a YAML file under
// catalog/ that a reviewer can read without Go — what is applied, in which order, and the exact
// outcome of every probe. This file is the format and its loader; outcome.go the outcome types.
package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
)

//go:embed catalog/*.yaml
var catalogFS embed.FS

// RootNamespace is Istio's default root namespace (meshConfig.rootNamespace): a
// PeerAuthentication there with no selector is mesh-wide.
const RootNamespace = "istio-system"

// Levels a scenario can have; the suite labels specs `level:<level>`.
var Levels = []string{"baseline", "mesh", "namespace", "workload", "port", "destinationrule"}

// Tags a scenario may declare; `destinationrule`, `xfcc` and `injection` are also derived
// from what the scenario does (see Labels).
var Tags = []string{"destinationrule", "xfcc", "injection", "precedence", "migration", "waypoint"}

// Source says where a scenario's expectations come from: a seed article's section, or an Istio
// doc, doc test, integration test or source file.
type Source struct {
	Seed    string `json:"seed,omitempty"`
	Section string `json:"section,omitempty"`
	Istio   string `json:"istio,omitempty"`
	Note    string `json:"note,omitempty"`
}

func (s Source) String() string {
	switch {
	case s.Seed != "" && s.Section != "":
		return "seed " + s.Seed + " § " + s.Section
	case s.Seed != "":
		return "seed " + s.Seed
	default:
		return s.Istio
	}
}

// NamespaceChange relabels a namespace's injection and restarts its workloads; the webhook
// acts on pod CREATE only, so a label change without a restart changes nothing.
type NamespaceChange struct {
	Name      string `json:"name"`
	Injection string `json:"injection"` // enabled | disabled | none (label removed)
	Restart   bool   `json:"restart"`
}

// Step is one state of a scenario: the objects it applies (after those of earlier steps, so
// they are younger), the objects it deletes, its namespace changes, and what every probe must
// observe once the mesh has converged.
type Step struct {
	Name       string
	Apply      []policy.Object
	Delete     []string // object keys, "Kind namespace/name"
	Namespaces []NamespaceChange
	// Waypoints are the ambient waypoints the step deploys (waypoint.go); one stays until the
	// scenario ends, and a later step naming its namespace again replaces it.
	Waypoints []Waypoint
	Expect    []ProbeOutcome // one per probe of the matrix, in matrix order; none when SidecarSkip
	// Versioned are the step's expectations that hold only for some Istio minors (an expect
	// block's since:/until:); for a run on such a minor they replace Expect's outcome of the
	// probes they name (ExpectFor).
	Versioned []VersionedExpect
}

// VersionedExpect is an expect block with since:/until:: from which Istio minor (inclusive) and
// until which (inclusive) its outcomes hold; an empty bound is open.
type VersionedExpect struct {
	Since, Until string
	Expect       []ProbeOutcome
}

// Holds reports whether the block's range contains the Istio minor m.
func (v VersionedExpect) Holds(m IstioMinor) bool {
	if v.Since != "" {
		if lo, _ := ParseIstioMinor(v.Since); m.Less(lo) {
			return false
		}
	}
	if v.Until != "" {
		if hi, _ := ParseIstioMinor(v.Until); hi.Less(m) {
			return false
		}
	}
	return true
}

// ExpectFor is the step's expectations on Istio version istioVersion ("1.31.4" or "1.31"):
// Expect, with the outcome of every probe a versioned block holding for that minor names
// replaced by the block's.
func (st Step) ExpectFor(istioVersion string) ([]ProbeOutcome, error) {
	if len(st.Versioned) == 0 {
		return st.Expect, nil
	}
	m, err := ParseIstioMinor(istioVersion)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(st.Expect)
	for _, v := range st.Versioned {
		if !v.Holds(m) {
			continue
		}
		for _, po := range v.Expect {
			for i := range out {
				if out[i].Probe == po.Probe {
					out[i] = po
				}
			}
		}
	}
	return out, nil
}

// IstioMinor is an Istio MAJOR.MINOR, the unit since:/until: speak in.
type IstioMinor struct{ Major, Minor int }

func (m IstioMinor) String() string { return fmt.Sprintf("%d.%d", m.Major, m.Minor) }

// Less orders minors.
func (m IstioMinor) Less(o IstioMinor) bool {
	return m.Major < o.Major || (m.Major == o.Major && m.Minor < o.Minor)
}

var istioMinorRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*)(?:-(?:alpha|beta|rc)\.(?:0|[1-9][0-9]*))?)?$`)

// ParseIstioMinor reads "1.31" or a full version such as "1.31.4" or "1.31.0-rc.1" as its minor.
func ParseIstioMinor(s string) (IstioMinor, error) {
	m := istioMinorRE.FindStringSubmatch(s)
	if m == nil {
		return IstioMinor{}, fmt.Errorf("%q is not an Istio minor such as 1.31 (or a version such as 1.31.4)", s)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return IstioMinor{Major: major, Minor: minor}, nil
}

// Scenario is one catalog entry.
type Scenario struct {
	Name    string
	Title   string
	Level   string
	Tags    []string
	Sources []Source
	Notes   string
	Steps   []Step
	File    string
	// Inject is the set of injected namespaces the file's expectations are written for (its
	// `inject:`, INJECT's syntax); nil is the documented topology, every catalog file's.
	Inject []string
	// Ambient is the scenario on the ambient data plane (ambient.go); nil when the file has none.
	Ambient *Ambient
	// SidecarSkip says why the scenario means nothing on the sidecar data plane (its file's
	// `sidecar: {skip: …}`): its steps then have no sidecar expectations, and the suites skip it
	// there with these words. A step with waypoints needs it: waypoints are ambient's.
	SidecarSkip string
}

// WrittenFor reports whether the file's expectations are exact for a run whose fixtures are
// run: the same namespaces injected as the file's `inject:` says (the documented ones when it
// says nothing). Elsewhere the expectations are the oracle's (world.StepExpectations).
func (s *Scenario) WrittenFor(run fixtures.Variant) bool {
	written := fixtures.Variant{Injected: s.Inject}
	if written.IsDocumented() || run.IsDocumented() {
		return written.IsDocumented() == run.IsDocumented()
	}
	return slices.Equal(sortedCopy(written.Injected), sortedCopy(run.Injected))
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// State is what is in force at one step: the objects in creation order, the namespaces whose
// pods have sidecars, and those enrolled in ambient (ztunnel). A topology has one or the other.
type State struct {
	Objects  []policy.Object
	Injected map[string]bool
	Enrolled map[string]bool
	// Waypoints are the waypoints deployed, by namespace.
	Waypoints map[string]Waypoint
}

// StateAt accumulates the scenario's steps up to and including step i, starting from the
// topology's own injection (or ambient enrolment) labels. On an ambient topology a step's
// namespace change enrols the namespace instead of injecting it (what the catalog's ambient:
// blocks say of utilities-injection).
func (s *Scenario) StateAt(topo *fixtures.Topology, i int) State {
	st := State{Injected: map[string]bool{}, Enrolled: map[string]bool{}, Waypoints: map[string]Waypoint{}}
	for _, ns := range topo.InjectedNamespaces() {
		st.Injected[ns] = true
	}
	for _, ns := range topo.EnrolledNamespaces() {
		st.Enrolled[ns] = true
	}
	changed := st.Injected
	if topo.Ambient {
		changed = st.Enrolled
	}
	for _, step := range s.Steps[:i+1] {
		for _, key := range step.Delete {
			st.Objects = slices.DeleteFunc(st.Objects, func(o policy.Object) bool { return o.Key() == key })
		}
		st.Objects = append(st.Objects, step.Apply...)
		for _, c := range step.Namespaces {
			changed[c.Name] = c.Injection == "enabled"
		}
		for _, w := range step.Waypoints {
			st.Waypoints[w.Namespace] = w
		}
	}
	return st
}

// MeshWide reports whether any step puts an object in the root namespace: such a scenario
// changes the mesh for everyone and runs on a cluster the suite did not create only on request.
func (s *Scenario) MeshWide() bool {
	for _, step := range s.Steps {
		for _, o := range step.Apply {
			if o.Meta().Namespace == RootNamespace {
				return true
			}
		}
	}
	return false
}

// ChangesInjection reports whether any step relabels a namespace for injection (and restarts
// its pods): the scenario then decides which namespaces have sidecars, not the run's topology.
func (s *Scenario) ChangesInjection() bool {
	return slices.ContainsFunc(s.Steps, func(st Step) bool { return len(st.Namespaces) > 0 })
}

// Labels are the Ginkgo labels of the scenario's specs: its name, `level:<level>`, its declared
// tags, and the tags its content implies.
func (s *Scenario) Labels() []string {
	set := map[string]bool{s.Name: true, "level:" + s.Level: true}
	for _, t := range s.Tags {
		set[t] = true
	}
	if s.ChangesInjection() {
		set["injection"] = true
	}
	for _, step := range s.Steps {
		for _, o := range step.Apply {
			if o.DestinationRule != nil {
				set["destinationrule"] = true
			}
		}
		if len(step.Waypoints) > 0 {
			set["waypoint"] = true
		}
		for _, e := range step.Expect {
			if e.MTLS {
				set["xfcc"] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// Matrix is every probe of the topology: each client × each Service × each Service port, in
// placement order. Scenarios must expect every one of them.
func Matrix(topo *fixtures.Topology) []Probe {
	var out []Probe
	for _, c := range topo.Clients {
		for _, svc := range topo.Services {
			for _, p := range svc.Ports {
				out = append(out, Probe{From: c.Ref, To: svc.Ref, Port: p.Port})
			}
		}
	}
	return out
}

// Catalog loads every scenario under catalog/, sorted by file name.
func Catalog() ([]*Scenario, error) { return CatalogWithDir("") }

// CatalogWithDir is the catalog followed by every *.yaml scenario file of dir, sorted by file
// name (the suites' SCENARIOS_DIR: test-only scenarios such as scenarios/testdata/failing). A
// name may be used once across both; dir "" is the catalog alone.
func CatalogWithDir(dir string) ([]*Scenario, error) {
	topo, err := fixtures.Load()
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	out, err := load(catalogFS, "catalog", "catalog", topo, names)
	if err != nil || dir == "" {
		return out, err
	}
	extra, err := load(os.DirFS(dir), ".", dir, topo, names)
	if err != nil {
		return nil, err
	}
	if len(extra) == 0 {
		return nil, fmt.Errorf("%s: no scenario file (*.yaml)", dir)
	}
	return append(out, extra...), nil
}

// load parses every *.yaml file of fsys's folder root, reported as shown/<file>; names holds
// the names taken so far, by file.
func load(fsys fs.FS, root, shown string, topo *fixtures.Topology, names map[string]string) ([]*Scenario, error) {
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, err
	}
	var out []*Scenario
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".yaml" {
			continue
		}
		data, err := fs.ReadFile(fsys, path.Join(root, e.Name()))
		if err != nil {
			return nil, err
		}
		name := filepath.Join(shown, e.Name())
		s, err := Parse(name, data, topo)
		if err != nil {
			return nil, err
		}
		if prev, dup := names[s.Name]; dup {
			return nil, fmt.Errorf("%s: name: %q is already used by %s", name, s.Name, prev)
		}
		names[s.Name] = name
		out = append(out, s)
	}
	return out, nil
}

// fileFormat is a scenario file as written; see catalog/README.md.
type fileFormat struct {
	Name    string       `json:"name"`
	Title   string       `json:"title"`
	Level   string       `json:"level"`
	Tags    []string     `json:"tags"`
	Sources []Source     `json:"sources"`
	Notes   string       `json:"notes"`
	Inject  *string      `json:"inject"`
	Steps   []stepFile   `json:"steps"`
	Ambient *ambientFile `json:"ambient"`
	Sidecar *sidecarFile `json:"sidecar"`
}

// sidecarFile is a scenario file's `sidecar:` block: why the scenario is skipped on the sidecar
// data plane, with the sources that say so.
type sidecarFile struct {
	Skip    string   `json:"skip"`
	Sources []Source `json:"sources"`
}

type stepFile struct {
	Name       string            `json:"name"`
	Apply      []map[string]any  `json:"apply"`
	Delete     []string          `json:"delete"`
	Namespaces []NamespaceChange `json:"namespaces"`
	Waypoints  []Waypoint        `json:"waypoints"`
	Expect     []expectFile      `json:"expect"`
}

// expectFile is one block of expectations: for one Service, on the listed Service ports (all of
// them if none), what each client observes.
type expectFile struct {
	To    string           `json:"to"`
	Ports []int            `json:"ports"`
	From  map[string]Class `json:"from"`
	// Since and Until (Istio minors, inclusive) make the block hold only on those minors; it
	// then overrides the unversioned blocks' outcome of the probes it names.
	Since string `json:"since"`
	Until string `json:"until"`
}

// fieldError names the file and the field, so a malformed scenario is one clear line.
func fieldError(file, field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %s", file, field, fmt.Sprintf(format, args...))
}

// Parse reads one scenario file and checks it against the topology: every probe of the matrix
// is expected exactly once, and every policy passes Istio's own validation.
func Parse(file string, data []byte, topo *fixtures.Topology) (*Scenario, error) {
	var f fileFormat
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %s", file, policy.CleanYAMLError(err))
	}
	s := &Scenario{Name: f.Name, Title: f.Title, Level: f.Level, Tags: f.Tags, Sources: f.Sources, Notes: f.Notes, File: file}
	switch {
	case f.Name == "" || strings.ContainsAny(f.Name, " \t:,"):
		return nil, fieldError(file, "name", "required, a single word (it becomes a Ginkgo label), got %q", f.Name)
	case f.Title == "":
		return nil, fieldError(file, "title", "required")
	case !slices.Contains(Levels, f.Level):
		return nil, fieldError(file, "level", "%q is not one of %v", f.Level, Levels)
	case len(f.Sources) == 0:
		return nil, fieldError(file, "sources", "every scenario cites at least one source")
	case len(f.Steps) == 0:
		return nil, fieldError(file, "steps", "at least one step is required")
	}
	for i, t := range f.Tags {
		if !slices.Contains(Tags, t) {
			return nil, fieldError(file, fmt.Sprintf("tags[%d]", i), "%q is not one of %v", t, Tags)
		}
	}
	for i, src := range f.Sources {
		if (src.Seed == "") == (src.Istio == "") {
			return nil, fieldError(file, fmt.Sprintf("sources[%d]", i), "set exactly one of seed or istio")
		}
	}
	if f.Inject != nil {
		// INJECT's syntax: none, or a comma list of fixture namespaces.
		s.Inject = []string{}
		if *f.Inject != "none" {
			for _, ns := range strings.Split(*f.Inject, ",") {
				ns = strings.TrimSpace(ns)
				if _, ok := topo.Namespace(ns); !ok {
					return nil, fieldError(file, "inject", "%q is not a fixture namespace (want none or a comma list of them)", ns)
				}
				s.Inject = append(s.Inject, ns)
			}
		}
	}

	if f.Sidecar != nil {
		switch {
		case f.Sidecar.Skip == "":
			return nil, fieldError(file, "sidecar.skip", "required: why the scenario means nothing on the sidecar data plane")
		case len(f.Sidecar.Sources) == 0:
			return nil, fieldError(file, "sidecar.sources", "the skip reason cites at least one source")
		}
		s.SidecarSkip = f.Sidecar.Skip
	}

	matrix := Matrix(topo)
	live := map[string]bool{}
	for i, sf := range f.Steps {
		where := fmt.Sprintf("steps[%d]", i)
		step := Step{Name: sf.Name, Delete: sf.Delete, Namespaces: sf.Namespaces, Waypoints: sf.Waypoints}
		if sf.Name == "" {
			return nil, fieldError(file, where+".name", "required")
		}
		if err := parseWaypoints(file, where, sf.Waypoints, topo); err != nil {
			return nil, err
		}
		switch {
		case len(sf.Waypoints) > 0 && s.SidecarSkip == "":
			return nil, fieldError(file, where+".waypoints", "waypoints are ambient's: the file needs sidecar: {skip: …} (the sidecar oracle and generator check do not model them)")
		case s.SidecarSkip != "" && len(sf.Expect) > 0:
			return nil, fieldError(file, where+".expect", "the scenario is skipped on the sidecar data plane (sidecar.skip): write its outcomes under ambient: only")
		}
		for j, key := range sf.Delete {
			if !live[key] {
				return nil, fieldError(file, fmt.Sprintf("%s.delete[%d]", where, j), "%q is not applied at this point (write \"Kind namespace/name\")", key)
			}
			delete(live, key)
		}
		for j, raw := range sf.Apply {
			field := fmt.Sprintf("%s.apply[%d]", where, j)
			obj, err := policy.FromMap(raw, field)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", file, field, err)
			}
			if live[obj.Key()] {
				return nil, fieldError(file, field, "%s is already applied; delete it first", obj.Key())
			}
			live[obj.Key()] = true
			step.Apply = append(step.Apply, obj)
		}
		for j, c := range sf.Namespaces {
			field := fmt.Sprintf("%s.namespaces[%d]", where, j)
			if _, ok := topo.Namespace(c.Name); !ok {
				return nil, fieldError(file, field+".name", "%q is not a fixture namespace", c.Name)
			}
			if !slices.Contains([]string{"enabled", "disabled", "none"}, c.Injection) {
				return nil, fieldError(file, field+".injection", "%q is not enabled, disabled or none", c.Injection)
			}
			if !c.Restart {
				return nil, fieldError(file, field+".restart", "must be true: the injection webhook acts on pod CREATE only, so a relabelled namespace needs its pods restarted")
			}
		}
		var unversioned []expectFile
		var index []int
		for bi, b := range sf.Expect {
			if b.Since == "" && b.Until == "" {
				unversioned = append(unversioned, b)
				index = append(index, bi)
				continue
			}
			v, err := parseVersioned(file, where, bi, b, topo, step.Versioned)
			if err != nil {
				return nil, err
			}
			step.Versioned = append(step.Versioned, v)
		}
		if s.SidecarSkip == "" {
			expect, err := expandExpectAt(file, where, unversioned, index, topo, matrix, nil)
			if err != nil {
				return nil, err
			}
			step.Expect = expect
		}
		s.Steps = append(s.Steps, step)
	}
	if err := parseAmbient(file, f.Ambient, s, topo); err != nil {
		return nil, err
	}
	return s, nil
}

// parseVersioned reads one expect block with since:/until:; two such blocks of a step may name
// the same probe only on disjoint ranges, so that a minor never has two outcomes for one probe.
func parseVersioned(file, where string, bi int, b expectFile, topo *fixtures.Topology, earlier []VersionedExpect) (VersionedExpect, error) {
	field := fmt.Sprintf("%s.expect[%d]", where, bi)
	v := VersionedExpect{Since: b.Since, Until: b.Until}
	var lo, hi IstioMinor
	var err error
	if b.Since != "" {
		if lo, err = ParseIstioMinor(b.Since); err != nil {
			return v, fieldError(file, field+".since", "%v", err)
		}
		v.Since = lo.String()
	}
	if b.Until != "" {
		if hi, err = ParseIstioMinor(b.Until); err != nil {
			return v, fieldError(file, field+".until", "%v", err)
		}
		v.Until = hi.String()
	}
	if b.Since != "" && b.Until != "" && hi.Less(lo) {
		return v, fieldError(file, field+".until", "%s is before since %s", v.Until, v.Since)
	}
	b.Since, b.Until = "", ""
	// The block names some probes only: expand it against its own probes (matrix order).
	var own []Probe
	for _, p := range Matrix(topo) {
		to, err := fixtures.ParseRef(b.To)
		if err != nil || p.To != to || (len(b.Ports) > 0 && !slices.Contains(b.Ports, p.Port)) {
			continue
		}
		if _, ok := b.From[p.From.String()]; ok {
			own = append(own, p)
		}
	}
	all, err := expandExpectAt(file, where, []expectFile{b}, []int{bi}, topo, own, nil)
	if err != nil {
		return v, err
	}
	v.Expect = all
	for _, e := range earlier {
		if !overlap(e, v) {
			continue
		}
		for _, a := range e.Expect {
			for _, c := range v.Expect {
				if a.Probe == c.Probe {
					return v, fieldError(file, field, "%s is also expected by an earlier block whose since/until overlaps this one's", c.Probe)
				}
			}
		}
	}
	return v, nil
}

// overlap reports whether two versioned blocks share a minor.
func overlap(a, b VersionedExpect) bool {
	// a's range ends before b's begins, or b's before a's: disjoint.
	before := func(x, y VersionedExpect) bool {
		if x.Until == "" || y.Since == "" {
			return false
		}
		hi, _ := ParseIstioMinor(x.Until)
		lo, _ := ParseIstioMinor(y.Since)
		return hi.Less(lo)
	}
	return !before(a, b) && !before(b, a)
}

// expandExpect turns the file's per-Service blocks into one exact outcome per matrix probe,
// rejecting gaps and duplicates; waypoints (by namespace) are those deployed at that step.
func expandExpect(file, where string, blocks []expectFile, topo *fixtures.Topology, matrix []Probe, waypoints map[string]Waypoint) ([]ProbeOutcome, error) {
	index := make([]int, len(blocks))
	for i := range index {
		index[i] = i
	}
	return expandExpectAt(file, where, blocks, index, topo, matrix, waypoints)
}

// expandExpectAt is expandExpect for blocks that are index[i]-th in the file (errors name it).
func expandExpectAt(file, where string, blocks []expectFile, index []int, topo *fixtures.Topology, matrix []Probe, waypoints map[string]Waypoint) ([]ProbeOutcome, error) {
	// XFCC identities come from service accounts, so the topology alone fixes them.
	got := map[Probe]Outcome{}
	for bi, b := range blocks {
		field := fmt.Sprintf("%s.expect[%d]", where, index[bi])
		to, err := fixtures.ParseRef(b.To)
		if err != nil {
			return nil, fieldError(file, field+".to", "%v", err)
		}
		svc, ok := topo.Service(to)
		if !ok {
			return nil, fieldError(file, field+".to", "%q is not a fixture Service", b.To)
		}
		ports := b.Ports
		if len(ports) == 0 {
			for _, p := range svc.Ports {
				ports = append(ports, p.Port)
			}
		}
		server := topo.ServiceWorkloads(svc)[0]
		for _, port := range ports {
			if !slices.ContainsFunc(svc.Ports, func(p fixtures.ServicePort) bool { return p.Port == port }) {
				return nil, fieldError(file, field+".ports", "%d is not a port of Service %s", port, to)
			}
			for from, class := range b.From {
				fref, err := fixtures.ParseRef(from)
				if err != nil {
					return nil, fieldError(file, field+".from", "%v", err)
				}
				client, ok := topo.Workload(fref)
				if !ok || client.Role != fixtures.RoleClient {
					return nil, fieldError(file, field+".from", "%q is not a fixture client", from)
				}
				serverID := fixtures.SPIFFEID(fixtures.DefaultTrustDomain, server.Namespace, server.ServiceAccount)
				if class == ClassWaypoint {
					wp, ok := waypoints[to.Namespace]
					if !ok {
						return nil, fieldError(file, field+".from["+from+"]", "%q: no waypoint serves %s at this step", class, to)
					}
					serverID = wp.Identity(fixtures.DefaultTrustDomain)
				}
				out, err := class.Outcome(serverID,
					fixtures.SPIFFEID(fixtures.DefaultTrustDomain, client.Namespace, client.ServiceAccount))
				if err != nil {
					return nil, fieldError(file, field+".from["+from+"]", "%v", err)
				}
				p := Probe{From: fref, To: to, Port: port}
				if _, dup := got[p]; dup {
					return nil, fieldError(file, field, "%s is expected twice", p)
				}
				got[p] = out
			}
		}
	}
	out := make([]ProbeOutcome, 0, len(matrix))
	for _, p := range matrix {
		o, ok := got[p]
		if !ok {
			return nil, fieldError(file, where+".expect", "%s has no expected outcome (every probe of the matrix must be listed)", p)
		}
		out = append(out, ProbeOutcome{Probe: p, Outcome: o})
	}
	return out, nil
}

// WithTrustDomain returns the expectations with every XFCC SPIFFE ID in trustDomain: the
// catalog writes cluster.local, a mesh may use another (meshConfig.trustDomain). It sets the
// trust domain of each ID rather than prefixing one, so expectations already in trustDomain
// (the oracle's, or ones rewritten before) come back unchanged.
func WithTrustDomain(expect []ProbeOutcome, trustDomain string) []ProbeOutcome {
	out := slices.Clone(expect)
	for i := range out {
		if x := out[i].XFCC; x != nil {
			out[i].XFCC = &XFCC{By: inTrustDomain(x.By, trustDomain), URI: inTrustDomain(x.URI, trustDomain)}
		}
	}
	return out
}

// inTrustDomain replaces the trust domain of spiffe://<trust domain>/<path>; anything else is
// returned as it is.
func inTrustDomain(id, trustDomain string) string {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return id
	}
	_, path, ok := strings.Cut(rest, "/")
	if !ok {
		return id
	}
	return "spiffe://" + trustDomain + "/" + path
}
