// Command istio-predict answers `conformance predict --engine istio`: it takes the same input
// as predict (policy files in creation order, extra injected namespaces, trust domain), runs
// Istio's own config generator on the fixture topology, derives every probe from the generated
// listeners and clusters with the authcheck engine, and prints predict's JSON document.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"istio.io/istio/pkg/test"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/tools/istiogen/harness"
)

// prediction is predict's JSON document (tools/conformance/predict.go).
type prediction struct {
	Probes []scenarios.ProbeOutcome `json:"probes"`
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("istio-predict", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var files, inject stringList
	fs.Var(&files, "f", "file of PeerAuthentication/DestinationRule documents, in creation order (repeatable; - for stdin)")
	fs.Var(&inject, "inject", "treat this namespace as sidecar-injected (repeatable)")
	output := fs.String("o", "json", "output format: json")
	trustDomain := fs.String("trust-domain", fixtures.DefaultTrustDomain, "mesh trust domain")
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "istio-predict: "+format+"\n", a...)
		return code
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0
		}
		return fail(2, "%v", err)
	}
	if fs.NArg() > 0 {
		return fail(2, "unexpected argument %q", fs.Arg(0))
	}
	if *output != "json" {
		return fail(2, "-o %q: only json (conformance predict renders tables)", *output)
	}
	topo, err := fixtures.Load()
	if err != nil {
		return fail(2, "%v", err)
	}
	objs, err := policy.DecodeFiles(files, func(f string) ([]byte, error) {
		if f == "-" {
			return io.ReadAll(stdin)
		}
		return os.ReadFile(f)
	})
	if err != nil {
		return fail(2, "%v", err)
	}
	injected, err := topo.InjectedWith(inject)
	if err != nil {
		return fail(2, "--inject %v", err)
	}
	if err := harness.Quiet(); err != nil {
		return fail(1, "%v", err)
	}
	var probes []scenarios.ProbeOutcome
	err = harness.Run(func(t test.Failer) error {
		gen, err := harness.Generate(t, oracle.Input{Topology: topo, Objects: objs, Injected: injected, TrustDomain: *trustDomain})
		if err != nil {
			return err
		}
		derived, err := gen.Predict()
		if err != nil {
			return err
		}
		for _, d := range derived {
			probes = append(probes, d.ProbeOutcome)
		}
		return nil
	})
	if err != nil {
		return fail(1, "%v", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(prediction{Probes: probes}); err != nil {
		return fail(1, "%v", err)
	}
	return 0
}
