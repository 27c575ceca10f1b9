package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

func init() {
	register("preflight", "preflight [--SETTING=VALUE]...",
		"check in seconds that `make conformance` can run (settings, Istio version, container runtime or cluster)", runPreflight)
}

// preflightTimeout keeps the answer within the 10 seconds `make conformance` promises.
const preflightTimeout = 8 * time.Second

// runPreflight takes the suite's own settings (flags and environment), checks what can be checked
// without creating anything, and on failure writes a run folder whose junit.xml names the failed
// step, so CI has a report even when the suite never starts.
func runPreflight(args []string, stdout, stderr io.Writer) int {
	s := settings.Defaults()
	fs := flag.NewFlagSet("preflight", flag.ContinueOnError)
	s.Bind(fs)
	if ok, code := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	step, err := preflight(fs, &s)
	if err == nil {
		fmt.Fprintf(stdout, "preflight: ok (%s)\n", step)
		return 0
	}
	fmt.Fprintf(stderr, "conformance preflight: %s: %v\n", step, err)
	run, rerr := report.NewRun(s.ReportsDir)
	if rerr == nil {
		rerr = report.WriteInfrastructureJUnit(filepath.Join(run.Dir, report.JUnitFile), "", report.Environment{ClusterMode: s.ClusterMode},
			report.InfraFailure{Step: step, Message: err.Error()})
	}
	if rerr != nil {
		fmt.Fprintf(stderr, "conformance preflight: writing the JUnit report: %v\n", rerr)
	}
	return 1
}

func preflight(fs *flag.FlagSet, s *settings.Settings) (step string, err error) {
	if err := s.Resolve(fs, os.Getenv); err != nil {
		return "settings", err
	}
	pins, err := versions.Load()
	if err != nil {
		return "versions", err
	}
	if s.IstioVersion != "" {
		if _, err := versions.ParseIstioVersion(s.IstioVersion); err != nil {
			return "istio version", err
		}
		if s.ClusterMode == settings.ModeKind && s.NodeImage == "" {
			if _, err := pins.NodeImageFor(s.IstioVersion); err != nil {
				return "istio version", err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), preflightTimeout)
	defer cancel()
	if s.ClusterMode == settings.ModeExisting {
		conn, err := cluster.Connect(ctx, cluster.ConnectOptions{Kubeconfig: s.Kubeconfig, Context: s.Context, Timeout: preflightTimeout})
		if err != nil {
			return "cluster", err
		}
		return "cluster " + conn.Server + " " + conn.ServerVersion, nil
	}
	rt, err := cluster.DetectRuntime(ctx, os.Getenv)
	if err != nil {
		return "container runtime", fmt.Errorf("%v (CLUSTER=kind needs Docker or Podman running; or use CLUSTER=existing with a kubeconfig)", err)
	}
	return "container runtime " + string(rt.Runtime) + " " + rt.Version, nil
}
