package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

// versions prints the pins of versions/versions.yaml for the Makefile (KEY=VALUE lines, valid Make
// and $GITHUB_ENV syntax) or the CI matrix (--matrix: one line of JSON for fromJSON).
func init() {
	register("versions", "print the version pins (KEY=VALUE lines, or --matrix JSON for CI)", runVersions)
}

func runVersions(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("versions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	istio := fs.String("istio", "", "Istio version to resolve the node image for (default: versions.yaml defaultIstio)")
	matrix := fs.Bool("matrix", false, "print the GitHub Actions matrix as one line of JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "conformance versions: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	pins, err := versions.Load()
	if err != nil {
		fmt.Fprintf(stderr, "conformance versions: %v\n", err)
		return 1
	}
	if *matrix {
		out, err := pins.MatrixJSON()
		if err != nil {
			fmt.Fprintf(stderr, "conformance versions: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, out)
		return 0
	}
	settings, err := pins.Settings(*istio)
	if err != nil {
		fmt.Fprintf(stderr, "conformance versions: %v\n", err)
		return 2
	}
	for _, s := range settings {
		fmt.Fprintf(stdout, "%s=%s\n", s.Key, s.Value)
	}
	return 0
}
