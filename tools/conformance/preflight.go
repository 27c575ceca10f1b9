package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	engine "github.com/mtls-conformance/mtls-conformance/suites/framework/upgrade"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

func init() {
	register("preflight", "preflight [upgrade] [--SETTING=VALUE]...",
		"check in seconds that `make conformance` (or, with upgrade, `make upgrade`) can run: settings, Istio versions, container runtime or cluster", runPreflight)
}

// preflightTimeout keeps the answer within the 10 seconds `make conformance` promises.
const preflightTimeout = 8 * time.Second

// preflightDir is where a preflight that failed on its environment leaves its JUnit file, under
// the reports directory: beside the run folders, never one of them, and not what latest names.
const preflightDir = "preflight"

// preflightFailure is a failed preflight step; badInput marks the user's input (exit 2, nothing
// written) apart from an environment that is not ready (exit 1, a JUnit file).
type preflightFailure struct {
	step     string
	err      error
	badInput bool
}

// runPreflight takes the suite's own settings (flags and environment) — with `upgrade`, the
// upgrade suite's options too — and checks what can be checked without creating anything.
//
// Bad input (a setting, a version, FROM/TO/MODE, a kubeconfig or context that is not there) is
// one line and exit 2, and creates nothing. An environment that is not ready (no container
// runtime, a cluster that does not answer) is one line and exit 1, and writes
// REPORTS_DIR/preflight/junit.xml naming the failed [Infrastructure] step, so CI still has a
// report when the suite never starts; no run folder is created and latest is left alone. A
// preflight that passes removes that file, so it never outlives the failure it reports.
func runPreflight(args []string, stdout, stderr io.Writer) int {
	upgrade := len(args) > 0 && args[0] == "upgrade"
	name := "preflight"
	if upgrade {
		args, name = args[1:], "preflight upgrade"
	}
	s := settings.Defaults()
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	s.Bind(flags)
	var opts *engine.Options
	if upgrade {
		o, err := engine.DefaultOptions()
		if err != nil {
			fmt.Fprintf(stderr, "conformance %s: %v\n", name, err)
			return 1
		}
		opts = &o
		opts.Bind(flags)
	}
	if ok, code := parseFlags(flags, args, stdout, stderr); !ok {
		return code
	}
	step, fail := preflight(flags, &s, opts)
	if fail == nil {
		if err := removePreflightReport(s.ReportsDir); err != nil {
			fmt.Fprintf(stderr, "conformance %s: %v\n", name, err)
			return 1
		}
		fmt.Fprintf(stdout, "preflight: ok (%s)\n", step)
		return 0
	}
	fmt.Fprintf(stderr, "conformance %s: %s: %v\n", name, fail.step, fail.err)
	if fail.badInput {
		return 2
	}
	junit := filepath.Join(s.ReportsDir, preflightDir, report.JUnitFile)
	if err := report.WriteInfrastructureJUnit(junit, "", report.Environment{ClusterMode: s.ClusterMode},
		report.InfraFailure{Step: fail.step, Message: fail.err.Error()}); err != nil {
		fmt.Fprintf(stderr, "conformance %s: writing %s: %v\n", name, junit, err)
	}
	return 1
}

// preflight runs the checks in order; on success it names what it found.
func preflight(flags *flag.FlagSet, s *settings.Settings, opts *engine.Options) (string, *preflightFailure) {
	bad := func(step string, err error) (string, *preflightFailure) {
		return "", &preflightFailure{step: step, err: err, badInput: true}
	}
	notReady := func(step string, err error) (string, *preflightFailure) {
		return "", &preflightFailure{step: step, err: err}
	}
	if err := s.Resolve(flags, os.Getenv); err != nil {
		return bad("settings", err)
	}
	switch {
	case opts != nil:
		// As the upgrade suite does (suites/upgrade), with the engine's own steps: it installs
		// --from first, on a node image both releases support.
		if err := opts.Resolve(flags, os.Getenv); err != nil {
			return bad("upgrade", err)
		}
		if err := opts.InstallFirst(flags, s); err != nil {
			return bad("upgrade", err)
		}
		if err := opts.PickNodeImage(s); err != nil {
			return bad("upgrade", err)
		}
	case s.IstioVersion != "":
		if _, err := versions.ParseIstioVersion(s.IstioVersion); err != nil {
			return bad("istio version", err)
		}
		if s.ClusterMode == settings.ModeKind {
			if _, err := s.KindNodeImage(); err != nil {
				return bad("istio version", err)
			}
		}
	}
	// What world.Setup checks before it creates anything, in the same order.
	if s.ClusterMode == settings.ModeKind && s.NodeImage != "" {
		warning, err := cluster.CheckNodeImage(s.NodeImage)
		if err != nil {
			return bad("node image", err)
		}
		if warning != "" {
			fmt.Fprintln(os.Stderr, "warning:", warning)
		}
	}
	if s.KindPatch != "" {
		if _, err := cluster.LoadConfigPatch(s.KindPatch); err != nil {
			return bad("kind config patch", err)
		}
	}
	if s.IstioCharts != "" && (s.ClusterMode == settings.ModeKind || s.InstallIstio) {
		// Local charts only: a chart repository is the suite's to reach (an unreachable one is
		// not bad input). DATAPLANE=ambient needs the cni and ztunnel charts there too.
		if err := world.CheckCharts(*s, io.Discard); err != nil {
			return bad("istio charts", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), preflightTimeout)
	defer cancel()
	if s.ClusterMode == settings.ModeExisting {
		conn, err := cluster.Connect(ctx, cluster.ConnectOptions{Kubeconfig: s.Kubeconfig, Context: s.Context, Timeout: preflightTimeout})
		if cluster.BadSelection(err) {
			return bad("cluster", err)
		}
		if err != nil {
			return notReady("cluster", err)
		}
		return "cluster " + conn.Server + " " + conn.ServerVersion, nil
	}
	rt, err := cluster.DetectRuntime(ctx, s.KindProvider)
	if err != nil {
		return notReady("container runtime", fmt.Errorf("%v (CLUSTER=kind needs Docker or Podman running; or use CLUSTER=existing with a kubeconfig)", err))
	}
	return "container runtime " + string(rt.Runtime) + " " + rt.Version, nil
}

// removePreflightReport deletes the JUnit file a failed preflight left, and its folder if that
// is then empty.
func removePreflightReport(reportsDir string) error {
	dir := filepath.Join(reportsDir, preflightDir)
	if err := os.Remove(filepath.Join(dir, report.JUnitFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if entries, rerr := os.ReadDir(dir); rerr == nil && len(entries) > 0 {
			return nil // someone else's files: left alone
		}
		return err
	}
	return nil
}
