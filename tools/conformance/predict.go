package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

func init() {
	register("predict", "predict [-f FILE]... [--inject NAMESPACE]... [-o table|json] [--engine oracle|istio] [--trust-domain DOMAIN] [--dataplane sidecar|ambient] [--istio VERSION]",
		"predict every probe's outcome under the given PeerAuthentications and DestinationRules", runPredict)
}

// prediction is predict's JSON document: stable field names, one object per probe.
type prediction struct {
	Probes []scenarios.ProbeOutcome `json:"probes"`
}

func runPredict(args []string, stdout, stderr io.Writer) int {
	fs, fail := newCommand("predict", stderr)
	var files, inject stringList
	fs.Var(&files, "f", "file of PeerAuthentication/DestinationRule documents, in creation order (repeatable; - for stdin)")
	fs.Var(&inject, "inject", "treat this namespace as sidecar-injected (repeatable), e.g. utilities")
	output := fs.String("o", "table", "output format: table or json")
	trustDomain := fs.String("trust-domain", fixtures.DefaultTrustDomain, "mesh trust domain for the SPIFFE IDs")
	engine := fs.String("engine", "oracle", "oracle (this project's rules) or istio (Istio's own config generator, see tools/istiogen)")
	dataplane := fs.String("dataplane", settings.DataplaneSidecar, "sidecar, or ambient (foo and bar enrolled in ambient; --inject then enrolls a namespace)")
	istioVersion := fs.String("istio", "", "Istio version the prediction is for, e.g. 1.31.4 (default: versions.yaml's default Istio; with --engine istio, the generator's own release)")
	if ok, code := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *output != "table" && *output != "json" {
		return fail(2, "-o %q: want table or json", *output)
	}
	if err := settings.ValidateTrustDomain(*trustDomain); err != nil {
		return fail(2, "--trust-domain: %v", err)
	}
	dp, err := settings.ParseDataplane(*dataplane)
	if err != nil {
		return fail(2, "--%v", err)
	}
	if dp == settings.DataplaneAmbient && *engine == "istio" {
		return fail(2, "--engine istio answers for sidecars; Istio's ambient conversion is checked by tools/istiogen/ambient (go test ./ambient there)")
	}
	pins, err := versions.Load()
	if err != nil {
		return fail(2, "%v", err)
	}
	// The istio engine is Istio's generator at one release (tools/istiogen links istio.io/istio
	// at versions.yaml's istio.sourceModule): it answers for that minor only.
	if *istioVersion != "" {
		if _, err := versions.ParseIstioVersion(*istioVersion); err != nil {
			return fail(2, "--istio: %v", err)
		}
	}
	if *engine == "istio" {
		if *istioVersion != "" && !sameMinor(*istioVersion, pins.Istio.SourceVersion) {
			return fail(2, "--istio %s: --engine istio is Istio %s's own generator (tools/istiogen) and answers for %s only; use --engine oracle", *istioVersion, pins.Istio.SourceVersion, minorOf(pins.Istio.SourceVersion))
		}
	} else if *istioVersion == "" {
		*istioVersion = pins.DefaultIstio
	}
	topo, err := fixtures.Load()
	if err != nil {
		return fail(2, "%v", err)
	}
	var stdin []byte // kept: stdin can be read once, and the istio engine needs it too
	objs, err := policy.DecodeFiles(files, func(f string) ([]byte, error) {
		data, err := readInput(f)
		if f == "-" {
			stdin = data
		}
		return data, err
	})
	if err != nil {
		return fail(2, "%v", err)
	}
	injected, err := topo.InjectedWith(inject)
	if err != nil {
		return fail(2, "--inject %v", err)
	}

	var probes []scenarios.ProbeOutcome
	switch *engine {
	case "oracle":
		in := oracle.Input{Topology: topo, Objects: objs, Injected: injected, TrustDomain: *trustDomain, IstioVersion: *istioVersion}
		if dp == settings.DataplaneAmbient {
			probes, err = oracle.PredictAmbient(in)
		} else {
			probes, err = oracle.Predict(in)
		}
	case "istio":
		probes, err = predictWithIstio(files, stdin, inject, *trustDomain)
	default:
		return fail(2, "--engine %q: want oracle or istio", *engine)
	}
	if err != nil {
		return fail(2, "%v", err)
	}
	// Everything is computed before anything is written: bad input never leaves partial output.
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(prediction{Probes: probes}); err != nil {
			return fail(2, "%v", err)
		}
		return 0
	}
	fmt.Fprint(stdout, MatrixTable(topo, probes))
	if dp == settings.DataplaneAmbient {
		fmt.Fprintln(stdout, "ambient: 🔒 = HBONE between ztunnels (mTLS, no XFCC at L4); no 503 (no sidecar); foo and bar enrolled")
	}
	return 0
}

func minorOf(version string) string {
	v, err := versions.ParseIstioVersion(version)
	if err != nil {
		return version
	}
	return v.Minor()
}

func sameMinor(a, b string) bool { return minorOf(a) == minorOf(b) }

func readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

// MatrixTable renders probes as the seed articles' grid: a row per client, a column per
// Service port; 🔒 marks mutual TLS (XFCC present).
func MatrixTable(topo *fixtures.Topology, probes []scenarios.ProbeOutcome) string {
	type col struct {
		to   fixtures.Ref
		port int
	}
	var cols []col
	for _, svc := range topo.Services {
		for _, p := range svc.Ports {
			cols = append(cols, col{svc.Ref, p.Port})
		}
	}
	cell := map[scenarios.Probe]string{}
	for _, p := range probes {
		cell[p.Probe] = p.Outcome.Cell()
	}
	var b strings.Builder
	width := 16
	fmt.Fprintf(&b, "%-16s", "FROM \\ TO")
	for _, c := range cols {
		h := fmt.Sprintf("%s:%d", c.to, c.port)
		if len(h)+2 > width {
			width = len(h) + 2
		}
	}
	for _, c := range cols {
		fmt.Fprintf(&b, "%-*s", width, fmt.Sprintf("%s:%d", c.to, c.port))
	}
	b.WriteString("\n")
	for _, cl := range topo.Clients {
		fmt.Fprintf(&b, "%-16s", cl.Ref)
		for _, c := range cols {
			text := cell[scenarios.Probe{From: cl.Ref, To: c.to, Port: c.port}]
			fmt.Fprintf(&b, "%s%s", text, strings.Repeat(" ", max(1, width-displayWidth(text))))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n200 🔒 = mutual TLS (XFCC present) · 200 = plaintext · 000 (exit 56) = connection reset · 503 = the client's sidecar could not connect\n")
	return b.String()
}

// displayWidth counts terminal columns: the lock is one rune but two columns wide.
func displayWidth(s string) int {
	w := 0
	for _, r := range s {
		w++
		if r == '🔒' {
			w++
		}
	}
	return w
}
