package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

func init() {
	register("cluster", "cluster delete [--name NAME]", "delete the suite's kind cluster (one kept with KEEP_CLUSTER=1; `make clean`)", runCluster)
}

// runCluster deletes a kind cluster kept with KEEP_CLUSTER=1 (`make clean`), through kind's Go
// library like the suite itself.
func runCluster(args []string, stdout, stderr io.Writer) int {
	fs, fail := newCommand("cluster delete", stderr)
	name := fs.String("name", settings.DefaultClusterName, "kind cluster name")
	// The runtime is the run's setting (--kind-provider, KIND_EXPERIMENTAL_PROVIDER).
	s := settings.Defaults()
	runtime := s.Bindings("kind-provider")
	settings.Bind(fs, runtime)
	if isHelp(args) {
		commandHelp(fs, stdout)
		return 0
	}
	if len(args) == 0 || args[0] != "delete" {
		return commandFailure(stderr, "cluster")(2, "want 'cluster delete [--name NAME]'%s", gotWord(args))
	}
	if ok, code := parseFlags(fs, args[1:], stdout, stderr); !ok {
		return code
	}
	if err := settings.ApplyEnv(fs, os.Getenv, runtime); err != nil {
		return fail(2, "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rt, err := cluster.DetectRuntime(ctx, s.KindProvider)
	if err != nil {
		return fail(1, "%v", err)
	}
	kind := kindcluster.NewProvider(rt.ProviderOption())
	names, err := kind.List()
	if err != nil {
		return fail(1, "listing kind clusters: %v", err)
	}
	if !slices.Contains(names, *name) {
		fmt.Fprintf(stdout, "no kind cluster %q\n", *name)
		return 0
	}
	// An explicit, throwaway kubeconfig: with "" kind would edit $KUBECONFIG or ~/.kube/config.
	tmp, err := os.MkdirTemp("", "mtls-conformance-delete-")
	if err != nil {
		return fail(1, "%v", err)
	}
	defer os.RemoveAll(tmp)
	if err := kind.Delete(*name, filepath.Join(tmp, "kubeconfig")); err != nil {
		return fail(1, "%v", err)
	}
	fmt.Fprintf(stdout, "deleted kind cluster %q\n", *name)
	return 0
}

// gotWord names the word a command got where it wanted another, for its one-line error.
func gotWord(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return fmt.Sprintf(", got %q", args[0])
}
