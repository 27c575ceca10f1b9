package harness

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"istio.io/istio/pkg/test"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// The random check's seed and size. The seed is fixed so that `make test` is reproducible; a
// failure prints it with the set's number, and -random-set runs that one set alone.
var (
	randomSeed    = flag.Uint64("random-seed", 20261110, "seed of TestRandomPolicySetsAgainstIstio")
	randomSets    = flag.Int("random-sets", 300, "number of random policy sets TestRandomPolicySetsAgainstIstio checks")
	randomSet     = flag.Int("random-set", -1, "check only this set of TestRandomPolicySetsAgainstIstio (as printed by a failure)")
	randomWorkers = flag.Int("random-workers", runtime.GOMAXPROCS(0), "sets checked at once")
)

// TestRandomPolicySetsAgainstIstio is the catalog check on policy sets nobody wrote by hand:
// seeded random combinations of mesh, namespace, workload and port-level PeerAuthentications
// (several per namespace, every mode including UNSET) and DestinationRules in every position the
// lookup visits (client namespace, Service namespace, root namespace; exact, short and wildcard
// hosts; destination- and port-level TLS), sometimes with more namespaces injected. For every set,
// every probe and every server port's mode from Istio's generator must equal the oracle's. A
// failing set is shrunk to the fewest objects that still disagree and printed as YAML with the
// differing probes and the command that reruns it.
func TestRandomPolicySetsAgainstIstio(t *testing.T) {
	topo := catalogtest.Topology(t)
	start := time.Now()
	// Sets are independent: check them on every core, then report in set order.
	type result struct {
		set   policySet
		diffs []string
		err   error
	}
	results := make([]result, *randomSets)
	next := make(chan int)
	var wg sync.WaitGroup
	for range *randomWorkers {
		wg.Go(func() {
			for i := range next {
				set := randomPolicySet(rand.New(rand.NewPCG(*randomSeed, uint64(i))))
				diffs, err := disagreements(topo, set)
				results[i] = result{set, diffs, err}
			}
		})
	}
	for i := range *randomSets {
		if *randomSet < 0 || i == *randomSet {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	checked := time.Since(start)

	failed := 0
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("random set %d (seed %d): %v\n%s", i, *randomSeed, res.err, res.set.yaml())
		}
		if len(res.diffs) == 0 {
			continue
		}
		minimal, minDiffs := shrink(topo, res.set, res.diffs)
		t.Errorf("random set %d disagrees with Istio (rerun: cd tools/istiogen && go test ./harness -run TestRandomPolicySetsAgainstIstio -random-seed=%d -random-set=%d)\n"+
			"smallest policy set that still disagrees (%d of %d objects%s):\n%s\ndiffering:\n  %s",
			i, *randomSeed, i, len(minimal.objects), len(res.set.objects), minimal.injectionNote(), minimal.yaml(), strings.Join(minDiffs, "\n  "))
		if failed++; failed == 3 {
			t.Fatalf("stopping after %d failing sets", failed)
		}
	}
	t.Logf("%d random policy sets (seed %d) checked against Istio's generator in %s", *randomSets, *randomSeed, checked.Round(time.Millisecond))
}

// policySet is one random input: objects in creation order, as YAML documents, and the namespaces
// injected beyond the topology's own.
type policySet struct {
	objects     []string
	extraInject []string
}

func (s policySet) yaml() string { return strings.Join(s.objects, "---\n") }

func (s policySet) injectionNote() string {
	if len(s.extraInject) == 0 {
		return ""
	}
	return "; also injected: " + strings.Join(s.extraInject, ", ")
}

func (s policySet) input(topo *fixtures.Topology) (oracle.Input, error) {
	in := oracle.Input{Topology: topo, Injected: map[string]bool{}}
	for _, ns := range topo.InjectedNamespaces() {
		in.Injected[ns] = true
	}
	for _, ns := range s.extraInject {
		in.Injected[ns] = true
	}
	for _, doc := range s.objects {
		objs, err := policy.Decode([]byte(doc))
		if err != nil {
			return in, fmt.Errorf("generated object does not decode: %w\n%s", err, doc)
		}
		in.Objects = append(in.Objects, objs...)
	}
	return in, nil
}

// disagreements runs one set through the oracle and Istio's generator; the fake discovery server
// is stopped before it returns.
func disagreements(topo *fixtures.Topology, s policySet) ([]string, error) {
	in, err := s.input(topo)
	if err != nil {
		return nil, err
	}
	var diffs []string
	err = Run(func(f test.Failer) error {
		var err error
		_, diffs, err = compareWithIstio(f, in, false)
		return err
	})
	return diffs, err
}

// shrink removes objects one at a time, newest first, and extra injections, keeping each removal
// after which Istio and the oracle still disagree.
func shrink(topo *fixtures.Topology, s policySet, diffs []string) (policySet, []string) {
	try := func(c policySet) bool {
		d, err := disagreements(topo, c)
		if err != nil || len(d) == 0 {
			return false
		}
		s, diffs = c, d
		return true
	}
	for i := len(s.objects) - 1; i >= 0; i-- {
		if i < len(s.objects) {
			try(policySet{objects: slices.Delete(slices.Clone(s.objects), i, i+1), extraInject: s.extraInject})
		}
	}
	for i := len(s.extraInject) - 1; i >= 0; i-- {
		try(policySet{objects: s.objects, extraInject: slices.Delete(slices.Clone(s.extraInject), i, i+1)})
	}
	return s, diffs
}

// The values the generator draws from: the fixture namespaces, Services and ports, and labels
// that select a fixture workload or none.
var (
	serverNamespaces = []string{"foo", "bar", "legacy"}
	clientNamespaces = []string{"foo", "bar", "legacy", "utilities"}
	paModes          = []string{"", "UNSET", "STRICT", "PERMISSIVE", "DISABLE"}
	drModes          = []string{"DISABLE", "ISTIO_MUTUAL"}
	// workload ports 8000 and 8080, and Service port 9080 (a portLevelMtls key that matches nothing)
	paPorts = []int{8000, 8080, 9080}
	// Service ports
	drPorts = []int{8000, 8080, 9080}
)

func pick[T any](r *rand.Rand, from []T) T { return from[r.IntN(len(from))] }

func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

// randomPolicySet draws one set. Probabilities are chosen so that most sets combine several
// levels: a mesh policy in about half, namespace and workload policies in each server namespace
// about half the time (sometimes two, so "oldest wins" is exercised), port-level settings on a
// third of workload policies, and up to four DestinationRules.
func randomPolicySet(r *rand.Rand) policySet {
	var s policySet
	n := 0
	name := func(prefix string) string { n++; return fmt.Sprintf("%s-%d", prefix, n) }
	var objs []string
	if chance(r, 0.5) {
		for range 1 + r.IntN(2) {
			objs = append(objs, peerAuthentication(r, scenarios.RootNamespace, name("mesh"), "", 0))
		}
	}
	if chance(r, 0.1) {
		objs = append(objs, peerAuthentication(r, scenarios.RootNamespace, name("root-selector"), "httpbin", 0.5))
	}
	for _, ns := range serverNamespaces {
		if chance(r, 0.5) {
			for range 1 + r.IntN(2) {
				objs = append(objs, peerAuthentication(r, ns, name("ns"), "", 0))
			}
		}
		if chance(r, 0.5) {
			for range 1 + r.IntN(2) {
				app := "httpbin"
				if chance(r, 0.15) {
					app = pick(r, []string{"sleep", "other"})
				}
				objs = append(objs, peerAuthentication(r, ns, name("wl"), app, 0.35))
			}
		}
	}
	var last *drPlace
	for range r.IntN(5) {
		var doc string
		doc, last = destinationRule(r, name("dr"), last)
		objs = append(objs, doc)
	}
	// Creation order across levels is part of the input too.
	r.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
	s.objects = objs
	if chance(r, 0.15) {
		s.extraInject = append(s.extraInject, "utilities")
	}
	if chance(r, 0.1) {
		s.extraInject = append(s.extraInject, "legacy")
	}
	return s
}

// peerAuthentication writes one PeerAuthentication: no selector when app is empty, a random mode
// (or none), and with probability portLevel a portLevelMtls map.
func peerAuthentication(r *rand.Rand, ns, name, app string, portLevel float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: %s, namespace: %s}\nspec:\n", name, ns)
	if app != "" {
		fmt.Fprintf(&b, "  selector: {matchLabels: {app: %s}}\n", app)
	}
	if m := pick(r, paModes); m != "" {
		fmt.Fprintf(&b, "  mtls: {mode: %s}\n", m)
	}
	if app != "" && chance(r, portLevel) {
		var entries []string
		for _, p := range paPorts {
			if chance(r, 0.5) {
				entries = append(entries, fmt.Sprintf("%d: {mode: %s}", p, pick(r, paModes[1:])))
			}
		}
		if len(entries) > 0 {
			fmt.Fprintf(&b, "  portLevelMtls: {%s}\n", strings.Join(entries, ", "))
		}
	}
	if strings.HasSuffix(b.String(), "spec:\n") {
		b.WriteString("  {}\n")
	}
	return b.String()
}

// drPlace is where a DestinationRule sits and what it is for.
type drPlace struct{ namespace, host string }

// destinationRule writes one DestinationRule in a namespace the lookup visits for some probe:
// a client's, a Service's, or the root namespace; for a host that is exact, short (resolved in
// the rule's namespace) or a wildcard; with destination-level TLS, port-level TLS, both, or no
// traffic policy at all; sometimes exported to chosen namespaces or scoped to client workloads
// by a workloadSelector. A third of the time it takes the place of the previous rule, so that
// rules for one host in one namespace are merged as Istio merges them.
func destinationRule(r *rand.Rand, name string, prev *drPlace) (string, *drPlace) {
	place := drPlace{namespace: pick(r, append(slices.Clone(clientNamespaces), scenarios.RootNamespace))}
	svcNS := pick(r, serverNamespaces)
	place.host = pick(r, []string{
		"httpbin." + svcNS + ".svc.cluster.local",
		"httpbin." + svcNS + ".svc.cluster.local",
		"httpbin",
		"*." + svcNS + ".svc.cluster.local",
		"*.svc.cluster.local",
		"*.local",
		"*",
	})
	if prev != nil && chance(r, 0.35) {
		place = *prev
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: %s, namespace: %s}\nspec:\n  host: %q\n", name, place.namespace, place.host)
	selector := chance(r, 0.25)
	if selector {
		fmt.Fprintf(&b, "  workloadSelector: {matchLabels: {%s}}\n", pick(r, []string{"app: sleep", "app: sleep", "app: curl", "app: nothing", ""}))
	}
	if exportTo := randomExportTo(r, place.namespace, selector); exportTo != nil {
		fmt.Fprintf(&b, "  exportTo: [%s]\n", strings.Join(exportTo, ", "))
	}
	if chance(r, 0.15) {
		return b.String(), &place
	}
	topTLS := chance(r, 0.7)
	var ports []string
	if !topTLS || chance(r, 0.35) {
		for _, p := range drPorts {
			if chance(r, 0.4) {
				ports = append(ports, fmt.Sprintf("{port: {number: %d}, tls: {mode: %s}}", p, pick(r, drModes)))
			}
		}
		if len(ports) == 0 {
			ports = append(ports, fmt.Sprintf("{port: {number: %d}, tls: {mode: %s}}", pick(r, drPorts), pick(r, drModes)))
		}
	}
	b.WriteString("  trafficPolicy:\n")
	if topTLS {
		fmt.Fprintf(&b, "    tls: {mode: %s}\n", pick(r, drModes))
	}
	if len(ports) > 0 {
		fmt.Fprintf(&b, "    portLevelSettings: [%s]\n", strings.Join(ports, ", "))
	}
	return b.String(), &place
}

// randomExportTo draws an exportTo Istio's validation accepts (pkg/config/validation
// validateExportTo): mostly none; else ".", "*", the own namespace, or one to three namespaces
// that may include ".". A rule with a workloadSelector may only name its own namespace.
func randomExportTo(r *rand.Rand, own string, selector bool) []string {
	if !chance(r, 0.35) {
		return nil
	}
	if selector {
		return []string{pick(r, []string{`"."`, own})}
	}
	switch r.IntN(4) {
	case 0:
		return []string{`"."`}
	case 1:
		return []string{`"*"`}
	}
	var out []string
	for _, ns := range r.Perm(len(clientNamespaces))[:1+r.IntN(3)] {
		out = append(out, clientNamespaces[ns])
	}
	if !slices.Contains(out, own) && chance(r, 0.3) {
		out = append(out, `"."`)
	}
	return out
}

// TestRandomPolicySetsAreVaried guards the generator itself: over the configured sets, every
// level and every lookup position must actually occur, or the check above proves less than it
// says.
func TestRandomPolicySetsAreVaried(t *testing.T) {
	seen := map[string]int{}
	for i := range *randomSets {
		set := randomPolicySet(rand.New(rand.NewPCG(*randomSeed, uint64(i))))
		for _, o := range set.objects {
			switch {
			case strings.Contains(o, "namespace: istio-system") && strings.Contains(o, "PeerAuthentication") && !strings.Contains(o, "selector"):
				seen["mesh policy"]++
			case strings.Contains(o, "PeerAuthentication") && !strings.Contains(o, "selector"):
				seen["namespace policy"]++
			case strings.Contains(o, "portLevelMtls"):
				seen["port policy"]++
			case strings.Contains(o, "PeerAuthentication"):
				seen["workload policy"]++
			case strings.Contains(o, "namespace: istio-system"):
				seen["DestinationRule in the root namespace"]++
			case strings.Contains(o, "portLevelSettings"):
				seen["DestinationRule port level"]++
			case strings.Contains(o, "DestinationRule"):
				seen["DestinationRule"]++
			}
		}
		for _, o := range set.objects {
			if strings.Contains(o, "exportTo") {
				seen["DestinationRule exportTo"]++
			}
			if strings.Contains(o, "workloadSelector") {
				seen["DestinationRule workloadSelector"]++
			}
		}
		if len(set.extraInject) > 0 {
			seen["extra injection"]++
		}
	}
	for _, want := range []string{"mesh policy", "namespace policy", "workload policy", "port policy", "DestinationRule", "DestinationRule port level", "DestinationRule in the root namespace", "DestinationRule exportTo", "DestinationRule workloadSelector", "extra injection"} {
		if seen[want] < *randomSets/20 {
			t.Errorf("%s occurs in %d of %d sets' objects; the generator must draw it more often", want, seen[want], *randomSets)
		}
	}
	t.Logf("%v", seen)
}
