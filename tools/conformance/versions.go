package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

// versions prints the pins of versions/versions.yaml: KEY=VALUE lines (shell and $GITHUB_ENV
// syntax), --make for "KEY ?= VALUE" lines a Makefile can include (the environment and the
// command line still win), or --matrix for the CI matrix as one line of JSON (fromJSON).
// --check compares the pins with what is released (versions_check.go): exit 0 when no pin is
// behind, 3 (one line per pin) when one is, 1 when a source cannot be read.
func init() {
	register("versions", "versions [--istio VERSION] [--make|--matrix|--check [--chart-index URL] [--kind-latest URL]]", "print the version pins (KEY=VALUE lines, KEY ?= VALUE for make, or --matrix JSON for CI); --check: say which pins are behind the released Istio charts and kind (exit 3 when one is)", runVersions)
}

func runVersions(args []string, stdout, stderr io.Writer) int {
	fs, fail := newCommand("versions", stderr)
	istio := fs.String("istio", "", "Istio version to resolve the node image for (default: versions.yaml defaultIstio)")
	matrix := fs.Bool("matrix", false, "print the GitHub Actions matrix as one line of JSON")
	makeSyntax := fs.Bool("make", false, "print KEY ?= VALUE lines for a Makefile include")
	check := fs.Bool("check", false, "compare the pins with the released Istio charts and kind: one line per pin that is behind and exit 3, exit 0 when none is, exit 1 when a source cannot be read")
	chartIndex := fs.String("chart-index", "", "with --check: the Helm repository index of Istio's charts (default: versions.yaml istio.chartRepository + /index.yaml)")
	kindLatest := fs.String("kind-latest", kindLatestURL, "with --check: the Go module proxy's @latest answer for sigs.k8s.io/kind")
	if ok, code := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !*check {
		for _, name := range []string{"chart-index", "kind-latest"} {
			if set[name] {
				return fail(2, "--%s needs --check", name)
			}
		}
	} else {
		for _, name := range []string{"istio", "make", "matrix"} {
			if set[name] {
				return fail(2, "--check does not take --%s", name)
			}
		}
	}
	pins, err := versions.Load()
	if err != nil {
		return fail(1, "%v", err)
	}
	if *check {
		if *chartIndex == "" {
			*chartIndex = strings.TrimSuffix(pins.Istio.ChartRepository, "/") + "/index.yaml"
		}
		for name, value := range map[string]string{"chart-index": *chartIndex, "kind-latest": *kindLatest} {
			if err := checkSourceURL(name, value); err != nil {
				return fail(2, "%v", err)
			}
		}
		return runVersionsCheck(pins, *chartIndex, *kindLatest, stdout, stderr)
	}
	if *matrix {
		out, err := pins.MatrixJSON()
		if err != nil {
			return fail(1, "%v", err)
		}
		fmt.Fprintln(stdout, out)
		return 0
	}
	settings, err := pins.Settings(*istio)
	if err != nil {
		return fail(2, "%v", err)
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
