package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

// versions prints the pins of versions/versions.yaml: KEY=VALUE lines (shell and $GITHUB_ENV
// syntax), --make for "KEY ?= VALUE" lines a Makefile can include (the environment and the
// command line still win), or --matrix for the CI matrix as one line of JSON (fromJSON).
func init() {
	register("versions", "versions [--istio VERSION] [--make|--matrix]", "print the version pins (KEY=VALUE lines, KEY ?= VALUE for make, or --matrix JSON for CI)", runVersions)
}

func runVersions(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("versions", flag.ContinueOnError)
	istio := fs.String("istio", "", "Istio version to resolve the node image for (default: versions.yaml defaultIstio)")
	matrix := fs.Bool("matrix", false, "print the GitHub Actions matrix as one line of JSON")
	makeSyntax := fs.Bool("make", false, "print KEY ?= VALUE lines for a Makefile include")
	if ok, code := parseFlags(fs, args, stdout, stderr); !ok {
		return code
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
	format := "%s=%s\n"
	if *makeSyntax {
		format = "%s ?= %s\n"
	}
	for _, s := range settings {
		fmt.Fprintf(stdout, format, s.Key, s.Value)
	}
	return 0
}
