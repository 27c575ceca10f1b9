package ambient

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

var (
	ambientSeed = flag.Uint64("ambient-seed", 20261204, "seed of TestRandomAmbientPolicySets")
	ambientSets = flag.Int("ambient-sets", 120, "number of random policy sets TestRandomAmbientPolicySets checks")
)

// TestRandomAmbientPolicySets: seeded random PeerAuthentication sets nobody wrote by hand —
// mesh, namespace, workload and port-level policies, every mode including UNSET, several per
// level in shuffled creation order, sometimes utilities enrolled — each run through Istio's
// ambient conversion and compared with the oracle probe by probe and port by port. A failure
// prints the set's YAML and `-ambient-seed`/index to rerun it.
func TestRandomAmbientPolicySets(t *testing.T) {
	topo := catalogtest.Topology(t)
	for i := range *ambientSets {
		r := rand.New(rand.NewPCG(*ambientSeed, uint64(i)))
		yaml, enrolled := randomAmbientSet(r)
		objs, err := decode(yaml)
		if err != nil {
			t.Fatalf("set %d: %v\n%s", i, err, yaml)
		}
		name := fmt.Sprintf("random set %d (seed %d)", i, *ambientSeed)
		before := t.Failed()
		check(t, name, oracle.Input{Topology: topo, Objects: objs, Injected: enrolled})
		if !before && t.Failed() {
			t.Fatalf("%s disagrees; its policies:\n%s", name, yaml)
		}
	}
}

func randomAmbientSet(r *rand.Rand) (string, map[string]bool) {
	modes := []string{"STRICT", "PERMISSIVE", "DISABLE", "UNSET", ""}
	mode := func() string {
		m := modes[r.IntN(len(modes))]
		if m == "" {
			return ""
		}
		return "  mtls: {mode: " + m + "}\n"
	}
	var docs []string
	n := 0
	add := func(ns, body string) {
		n++
		docs = append(docs, fmt.Sprintf("apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p%d, namespace: %s}\nspec:\n%s", n, ns, body))
	}
	for range r.IntN(3) {
		add("istio-system", mode()+"  selector: null\n")
	}
	for _, ns := range []string{"foo", "bar"} {
		for range r.IntN(3) {
			add(ns, mode()+"  selector: null\n")
		}
		for range r.IntN(3) {
			body := "  selector: {matchLabels: {app: httpbin}}\n" + mode()
			if r.IntN(4) > 0 {
				var ports []string
				for _, p := range []int{8000, 8080, 9080} {
					if r.IntN(2) == 0 {
						m := modes[r.IntN(4)]
						ports = append(ports, fmt.Sprintf("%d: {mode: %s}", p, m))
					}
				}
				if len(ports) > 0 {
					body += "  portLevelMtls: {" + strings.Join(ports, ", ") + "}\n"
				}
			}
			add(ns, body)
		}
	}
	r.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	var enrolled map[string]bool
	if r.IntN(4) == 0 {
		enrolled = map[string]bool{"foo": true, "bar": true, "utilities": true}
	}
	return strings.Join(docs, "---\n"), enrolled
}
