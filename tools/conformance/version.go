package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

func init() {
	register("version", "version", "print this tool's version and the pins it was built with (versions/versions.yaml)", runVersion)
}

// runVersion prints the tool's own version (the module version and VCS stamp Go records in the
// binary) and the pins of the embedded versions.yaml it carries.
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs, fail := newCommand("version", stderr)
	if ok, code := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	pins, err := versions.Load()
	if err != nil {
		return fail(1, "%v", err)
	}
	fmt.Fprintf(stdout, "conformance %s\n", toolVersion())
	fmt.Fprintf(stdout, "default Istio: %s\n", pins.DefaultIstio)
	fmt.Fprintf(stdout, "Istio releases: %s\n", strings.Join(pins.IstioVersions(), " "))
	fmt.Fprintf(stdout, "kind: %s\n", pins.Kind.Version)
	return 0
}

// toolVersion is the main module's version and commit as the Go toolchain stamped them
// (debug.ReadBuildInfo; `go build` in a checkout records vcs.revision, `go run` and tests may
// not), and the Go release that built it.
func toolVersion() string {
	version, commit, modified := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	out := version
	if commit != "" {
		out += " commit " + commit
		if modified {
			out += " (modified)"
		}
	}
	return out + ", " + runtime.Version()
}
