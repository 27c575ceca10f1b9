//go:build e2e

package upgrade

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	engine "github.com/mtls-conformance/mtls-conformance/suites/framework/upgrade"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
	"github.com/mtls-conformance/mtls-conformance/suites/suitekit"
)

// The catalog scenarios asserted at every phase: no policy at all, and namespace-wide STRICT in
// foo (scenarios/catalog/01-baseline.yaml, 03-namespace-strict.yaml).
const (
	baselineName = "baseline"
	strictName   = "namespace-strict"
	// disruptionScenario names the background prober's rows in results.json.
	disruptionScenario = "disruption"
)

// The background prober's pairs, with the outcomes namespace-strict expects of them: a sidecar
// client to a STRICT sidecar server (mTLS with the client's SPIFFE ID), and a client without a
// sidecar to the same server (reset, curl exit 56).
var proberPairs = []engine.PairSpec{
	{Name: "sidecar → sidecar mTLS", Probe: scenarios.Probe{From: ref("sleep", "bar"), To: ref("httpbin", "foo"), Port: 8000}, Class: scenarios.ClassMTLS},
	{Name: "legacy → STRICT", Probe: scenarios.Probe{From: ref("sleep", "legacy"), To: ref("httpbin", "foo"), Port: 8000}, Class: scenarios.ClassReset},
}

func ref(name, namespace string) fixtures.Ref { return fixtures.Ref{Name: name, Namespace: namespace} }

// phase is a point of the upgrade where scenarios are asserted.
type phase struct {
	// id orders the phases and names their folder under phases/.
	id    string
	title string
	// sidecars says, per injected namespace, which sidecars its pods must run.
	sidecars map[string]engine.SidecarWant
}

// crossRevision reports whether a probe goes between sidecars of different revisions.
func (ph phase) crossRevision(p scenarios.Probe) bool {
	from, okFrom := ph.sidecars[p.From.Namespace]
	to, okTo := ph.sidecars[p.To.Namespace]
	return okFrom && okTo && from.Revision != to.Revision
}

// sidecarsReason is why the data plane is not verified: "" when the run's topology has sidecars
// (the documented one), else the reason every data-plane spec is skipped with. Without sidecars
// (INJECT=none, as on the local kind tier, where no Envoy exists) the upgrade suite runs the
// control plane's steps alone, each followed by the proof that the new istiod serves.
var sidecarsReason string

var _ = Describe("Istio upgrade", func() {
	topo, baseline, strict, err := upgradeScenarios()
	if err != nil {
		panic(err)
	}
	describeUpgrade(topo, baseline, strict)
})

// upgradeScenarios are the run's topology (the documented one, or INJECT's) and the catalog
// scenarios the upgrade asserts. The upgrade is verified on sidecars: the background prober's
// pairs must have their outcomes in that topology (an INJECT without sidecars in foo and bar is
// an error, before anything runs).
func upgradeScenarios() (topo *fixtures.Topology, baseline, strict *scenarios.Scenario, err error) {
	if topo, err = world.RunTopology(suite.Settings); err != nil {
		return nil, nil, nil, err
	}
	catalog, err := scenarios.Catalog()
	if err != nil {
		return nil, nil, nil, err
	}
	byName := func(name string) (*scenarios.Scenario, error) {
		i := slices.IndexFunc(catalog, func(s *scenarios.Scenario) bool { return s.Name == name })
		if i < 0 || len(catalog[i].Steps) != 1 {
			return nil, fmt.Errorf("the upgrade suite needs the one-step catalog scenario %q", name)
		}
		return catalog[i], nil
	}
	if baseline, err = byName(baselineName); err != nil {
		return nil, nil, nil, err
	}
	if strict, err = byName(strictName); err != nil {
		return nil, nil, nil, err
	}
	expect, err := world.StepExpectations(suite.Settings, strict, 0)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(topo.InjectedNamespaces()) == 0 {
		sidecarsReason = fmt.Sprintf("data plane not verified: no sidecars (INJECT=%s); the control plane's steps run alone", suite.Settings.Inject)
		return topo, baseline, strict, nil
	}
	if _, err := engine.PairsFor(topo, expect, proberPairs); err != nil {
		return nil, nil, nil, fmt.Errorf("INJECT=%s: %w; the upgrade is verified on sidecars in foo and bar (or, with no namespace injected, on the control plane alone)", suite.Settings.Inject, err)
	}
	return topo, baseline, strict, nil
}

func describeUpgrade(topo *fixtures.Topology, baseline, strict *scenarios.Scenario) {
	injected := topo.InjectedNamespaces()
	slices.Sort(injected)
	fromTag := opts.From
	if suite.Settings.IstioTag != "" {
		fromTag = suite.Settings.IstioTag
	}
	toTag := opts.To
	if opts.ToTag != "" {
		toTag = opts.ToTag
	}
	old := engine.SidecarWant{Revision: engine.DefaultRevision, Tag: fromTag}
	all := func(w engine.SidecarWant) map[string]engine.SidecarWant {
		m := map[string]engine.SidecarWant{}
		for _, ns := range injected {
			m[ns] = w
		}
		return m
	}
	title := fmt.Sprintf("Istio %s → %s in place", opts.From, opts.To)
	if opts.Mode == engine.Canary {
		title = fmt.Sprintf("Istio %s → %s as a canary (revision %s)", opts.From, opts.To, opts.Revision())
	}
	Describe(title, Ordered, Serial, Label("upgrade", "mode:"+string(opts.Mode)), func() {
		before := phase{id: "1-before", title: fmt.Sprintf("Istio %s before the upgrade", opts.From), sidecars: all(old)}
		describePhase(before, func() {
			describeAssert(before, baseline, true)
			describeAssert(before, strict, true)
		})
		It(fmt.Sprintf("starts the background prober: %s", pairNames()), func() {
			skipDataPlane()
			expect, err := world.StepExpectations(suite.Settings, strict, 0)
			Expect(err).NotTo(HaveOccurred())
			pairs, err := engine.PairsFor(suite.World.Topology, expect, proberPairs)
			Expect(err).NotTo(HaveOccurred())
			// The prober outlives this spec: its context is the suite's, ended by stopProber.
			prober, err = engine.StartProber(context.Background(), suite.World.Exec, pairs, engine.ProberOptions{
				Interval: opts.ProbeInterval, Probe: suite.World.ProbeOptions(), Phase: "prober started",
			})
			Expect(err).NotTo(HaveOccurred())
		})
		var last phase
		switch opts.Mode {
		case engine.InPlace:
			last = describeInPlace(old, all, toTag, strict)
		case engine.Canary:
			last = describeCanary(old, all, injected, toTag, strict)
		}
		It(fmt.Sprintf("stops the background prober: at most %d unexpected outcomes (error budget)", opts.ErrorBudget), func() {
			skipDataPlane()
			d := stopProber()
			AddReportEntry("requests", d.Requests())
			AddReportEntry("unexpected", d.Unexpected())
			AddReportEntry("disruption", d.Summary())
			Expect(d.Check(opts.ErrorBudget)).To(Succeed())
		})
		describePhase(phase{id: last.id, title: fmt.Sprintf("Istio %s after the upgrade, without policy", opts.To), sidecars: last.sidecars}, func() {
			It("removes the STRICT policy", func(ctx SpecContext) {
				Expect(suite.World.ResetScenario(ctx, strict)).To(Succeed())
			})
			describeAssert(last, baseline, false)
		})
	})
}

func describeInPlace(old engine.SidecarWant, all func(engine.SidecarWant) map[string]engine.SidecarWant, toTag string, strict *scenarios.Scenario) phase {
	It(fmt.Sprintf("upgrades the control plane in place: helm upgrade istio-base and istiod to %s (image tag %s)", opts.To, toTag), func(ctx SpecContext) {
		mark("upgrade the control plane")
		Expect(controlPlane.UpgradeInPlace(ctx)).To(Succeed())
	})
	describeServing(fmt.Sprintf("istiod %s alone serves: rolled out, no %s pod left", toTag, old.Tag))
	mixed := phase{id: "2-mixed", title: fmt.Sprintf("old sidecars (%s) under the %s control plane", opts.From, opts.To), sidecars: all(old)}
	describePhase(mixed, func() { describeAssert(mixed, strict, false) })
	newSidecars := engine.SidecarWant{Revision: engine.DefaultRevision, Tag: toTag}
	after := phase{id: "3-after", title: fmt.Sprintf("new sidecars (%s)", opts.To), sidecars: all(newSidecars)}
	describeRestart(after.sidecars)
	describePhase(after, func() { describeAssert(after, strict, false) })
	return after
}

func describeCanary(old engine.SidecarWant, all func(engine.SidecarWant) map[string]engine.SidecarWant, injected []string, toTag string, strict *scenarios.Scenario) phase {
	rev := opts.Revision()
	It(fmt.Sprintf("upgrades istio-base to %s and installs istiod %s (image tag %s) as revision %s beside %s", opts.To, opts.To, toTag, rev, opts.From), func(ctx SpecContext) {
		mark("install the canary")
		Expect(controlPlane.InstallCanary(ctx)).To(Succeed())
		suite.World.SetRevisions(controlPlane.Revisions())
	})
	describeServing(fmt.Sprintf("istiod %s serves revision %s beside the old control plane", toTag, rev))
	mixed := phase{id: "2-mixed", title: fmt.Sprintf("old sidecars (%s, revision %s) beside the %s control plane", opts.From, engine.DefaultRevision, opts.To), sidecars: all(old)}
	describePhase(mixed, func() { describeAssert(mixed, strict, false) })

	canary := engine.SidecarWant{Revision: rev, Tag: toTag}
	// Without sidecars the namespaces a documented run injects move all the same, proven by the
	// injector (their running pods are not restarted: no sidecar could start).
	if len(injected) == 0 {
		injected = documentedInjected()
	}
	// One namespace moves first, so that each direction of a cross-revision call is probed: a
	// client of the old revision to a server of the new one, and the reverse.
	first, rest := injected[0], injected[1:]
	It(fmt.Sprintf("moves %s to istio.io/rev=%s", strings.Join(injected, " and "), rev), func(ctx SpecContext) {
		mark("move namespaces")
		Expect(controlPlane.MoveNamespaces(ctx, injected)).To(Succeed())
	})
	describeServing(fmt.Sprintf("revision %s injects new pods in %s", rev, strings.Join(injected, " and ")))
	cross := phase{id: "3-cross-revision", title: fmt.Sprintf("across revisions: %s on %s, %s on %s", first, rev, strings.Join(rest, ", "), engine.DefaultRevision), sidecars: all(old)}
	cross.sidecars[first] = canary
	describeRestart(map[string]engine.SidecarWant{first: canary})
	describePhase(cross, func() { describeAssert(cross, strict, false) })

	newSidecars := phase{id: "4-new-sidecars", title: fmt.Sprintf("new sidecars (%s, revision %s) with both control planes", opts.To, rev), sidecars: all(canary)}
	restRestart := map[string]engine.SidecarWant{}
	for _, ns := range rest {
		restRestart[ns] = canary
	}
	describeRestart(restRestart)
	describePhase(newSidecars, func() { describeAssert(newSidecars, strict, false) })

	It(fmt.Sprintf("removes the %s control plane: helm delete istiod, istio-base defaultRevision=%s", opts.From, rev), func(ctx SpecContext) {
		mark("remove the old control plane")
		Expect(controlPlane.RemoveOld(ctx)).To(Succeed())
		suite.World.SetRevisions(controlPlane.Revisions())
	})
	describeServing(fmt.Sprintf("revision %s alone serves: no %s pod left, istio-base's default validator calls it", rev, old.Tag))
	after := phase{id: "5-after", title: fmt.Sprintf("revision %s alone", rev), sidecars: all(canary)}
	describePhase(after, func() { describeAssert(after, strict, false) })
	return after
}

// servingTimeout bounds the wait for TO's istiod to be the one serving after a step.
const servingTimeout = 2 * time.Minute

// describeServing proves, right after a control-plane step and before anything later runs
// (the container is Ordered), that TO's istiod is the one serving (engine.CheckServing).
func describeServing(title string) {
	It(title, func(ctx SpecContext) {
		want, err := controlPlane.Serving()
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("serving", fmt.Sprintf("%s/%s (revision %s) runs %s, injects %s", want.Namespace, want.Deployment, want.Revision, want.Image, want.ProxyImage))
		if err := engine.WaitServing(ctx, kube, want, servingTimeout); err != nil {
			Fail(err.Error())
		}
	})
}

// skipDataPlane skips a data-plane spec (a phase, a restart, the background prober) when the run
// has no sidecars, with the reason.
func skipDataPlane() {
	if sidecarsReason != "" {
		Skip(sidecarsReason)
	}
}

// documentedInjected are the namespaces the documented topology injects (foo and bar).
func documentedInjected() []string {
	topo, err := fixtures.Load()
	if err != nil {
		panic(err)
	}
	names := topo.InjectedNamespaces()
	slices.Sort(names)
	return names
}

// describeRestart restarts every Deployment the suite manages in the namespaces and checks that
// the new pods run the sidecars given.
func describeRestart(namespaces map[string]engine.SidecarWant) {
	names := make([]string, 0, len(namespaces))
	for ns := range namespaces {
		names = append(names, ns)
	}
	slices.Sort(names)
	It(fmt.Sprintf("restarts the workloads in %s", strings.Join(names, " and ")), func(ctx SpecContext) {
		skipDataPlane()
		mark("restart " + strings.Join(names, ", "))
		for _, ns := range names {
			Expect(suite.World.Deployer.RestartNamespace(ctx, ns, controlPlane.Revisions())).To(Succeed())
		}
	})
}

// describePhase is one phase: a check that the data plane runs the sidecars the phase claims,
// then its assertions.
func describePhase(ph phase, body func()) {
	Context(fmt.Sprintf("phase %s: %s", ph.id, ph.title), Label("phase:"+ph.id), func() {
		BeforeEach(skipDataPlane)
		names := make([]string, 0, len(ph.sidecars))
		for ns := range ph.sidecars {
			names = append(names, ns)
		}
		slices.Sort(names)
		var parts []string
		for _, ns := range names {
			parts = append(parts, fmt.Sprintf("%s: %s sidecars (revision %s)", ns, ph.sidecars[ns].Tag, ph.sidecars[ns].Revision))
		}
		It("runs the expected sidecars: "+strings.Join(parts, ", "), func(ctx SpecContext) {
			mark("phase " + ph.id)
			if len(names) == 0 {
				Fail("phase " + ph.id + " claims no sidecars: a data-plane phase without sidecars proves nothing")
			}
			env := suite.World.Env
			phaseEnv[ph.id] = report.Environment{IstioVersion: controlPlane.Versions(), KubernetesVersion: env.KubernetesVersion, NodeImage: env.NodeImage, ClusterMode: env.ClusterMode, Topology: env.Topology}
			Expect(suite.Run.SetEnvironment(report.Environment{IstioVersion: controlPlane.Versions()})).To(Succeed())
			for _, ns := range names {
				Expect(engine.ExpectSidecars(ctx, kube, ns, ph.sidecars[ns])).To(Succeed())
			}
		})
		body()
	})
}

// describeAssert converges every probe of s's one step (applying its objects first when apply)
// and makes each probe its own spec, recorded under the phase.
func describeAssert(ph phase, s *scenarios.Scenario, apply bool) {
	expect := suite.StepExpectations(s, 0)
	Context(fmt.Sprintf("%s [%s]", s.Title, s.Name), func() {
		var results map[scenarios.Probe]*probe.Result
		action := "converges"
		if apply && len(s.Steps[0].Apply) > 0 {
			action = "applies its objects and converges"
		}
		It(action, func(ctx SpecContext) {
			var err error
			if apply {
				err = suite.World.ApplyStep(ctx, s, 0)
			}
			if err == nil {
				results, err = suite.World.Probe(ctx, expect)
			}
			if err != nil {
				suitekit.RecordSkipped(ph.record, s, 0, expect, "step failed: "+err.Error())
			}
			Expect(err).NotTo(HaveOccurred())
		})
		for _, e := range expect {
			var labels []any
			if ph.crossRevision(e.Probe) {
				labels = append(labels, Label("cross-revision"))
			}
			args := append(labels, func(ctx SpecContext) {
				suite.ProbeVerdict(ctx, ph.record, s, 0, e.Probe, results[e.Probe])
			})
			It(e.SpecName(), args...)
		}
	})
}

// record adds a probe's record to results.json under "<phase>/<scenario>" (one row per phase)
// and to the phase's own results file under the catalog's name.
func (ph phase) record(rec report.ProbeRecord) error {
	phaseRecords[ph.id] = append(phaseRecords[ph.id], rec)
	rec.Scenario = ph.id + "/" + rec.Scenario
	return suite.Run.Record(rec)
}

// mark tells the background prober, when it runs, which step its next requests fall in.
func mark(step string) {
	if prober != nil {
		prober.Mark(step)
	}
}

// stopProber stops the background prober (once) and puts its counts in the report: one results
// row per pair and disruption.json. It returns the counts.
func stopProber() engine.Disruption {
	if prober == nil {
		return engine.Disruption{}
	}
	d := prober.Stop()
	prober = nil
	step := fmt.Sprintf("%s %s → %s", opts.Mode, opts.From, opts.To)
	for _, rec := range d.Records(disruptionScenario, step, opts.ErrorBudget) {
		Expect(suite.Run.Record(rec)).To(Succeed())
	}
	path, err := d.WriteJSON(suite.Run.Dir)
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("background prober: %s\n%s\n", path, d.Summary())
	return d
}

func pairNames() string {
	var names []string
	for _, p := range proberPairs {
		names = append(names, fmt.Sprintf("%s (%s)", p.Name, p.Probe))
	}
	return strings.Join(names, " and ")
}
