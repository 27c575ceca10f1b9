// Command kubegomod reads `go mod edit -json` output of k8s.io/kubernetes's go.mod on stdin and
// answers what pin.sh needs from it:
//
//	kubegomod replaces v0.X.Y   one `go mod edit` -replace flag per staging module
//	kubegomod require MODULE    the version k8s.io/kubernetes requires of MODULE
//
// k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and
// replaces them with ./staging/src/<path>, which only resolves inside its own repository; a consumer
// must pin each one to its published release instead (for Kubernetes v1.X.Y that is v0.X.Y). Reading
// the list from the go.mod itself keeps it exact when Kubernetes adds or removes a staging module.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// goModJSON is the part of `go mod edit -json` output this command reads (cmd/go's GoMod type).
type goModJSON struct {
	Require []struct {
		Path    string
		Version string
	}
	Replace []struct {
		Old struct{ Path string }
		New struct{ Path string }
	}
}

const stagingPrefix = "./staging/src/"

func main() {
	if len(os.Args) != 3 {
		fail(2, "usage: go mod edit -json k8s-go.mod | kubegomod replaces v0.X.Y | require MODULE")
	}
	var mod goModJSON
	if err := json.NewDecoder(os.Stdin).Decode(&mod); err != nil {
		fail(1, "decoding go mod edit -json output: %v", err)
	}
	switch os.Args[1] {
	case "replaces":
		if !strings.HasPrefix(os.Args[2], "v0.") {
			fail(2, "staging version %q is not v0.X.Y", os.Args[2])
		}
		flags, err := stagingReplaceFlags(&mod, os.Args[2])
		if err != nil {
			fail(1, "%v", err)
		}
		printLines(os.Stdout, flags)
	case "require":
		for _, r := range mod.Require {
			if r.Path == os.Args[2] {
				fmt.Println(r.Version)
				return
			}
		}
		fail(1, "k8s.io/kubernetes does not require %s", os.Args[2])
	default:
		fail(2, "unknown subcommand %q", os.Args[1])
	}
}

// stagingReplaceFlags turns every `X => ./staging/src/X` directive into `-replace=X=X@stagingVersion`.
func stagingReplaceFlags(mod *goModJSON, stagingVersion string) ([]string, error) {
	var flags []string
	for _, r := range mod.Replace {
		if !strings.HasPrefix(r.New.Path, stagingPrefix) {
			continue
		}
		if want := stagingPrefix + r.Old.Path; r.New.Path != want {
			return nil, fmt.Errorf("%s => %s: staging directory does not match the module path", r.Old.Path, r.New.Path)
		}
		flags = append(flags, fmt.Sprintf("-replace=%s=%s@%s", r.Old.Path, r.Old.Path, stagingVersion))
	}
	if len(flags) == 0 {
		return nil, fmt.Errorf("no %s replace directives found", stagingPrefix)
	}
	sort.Strings(flags)
	return flags, nil
}

func printLines(w io.Writer, lines []string) {
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kubegomod: "+format+"\n", args...)
	os.Exit(code)
}
