package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/cluster"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

func init() {
	register("authcheck", "authcheck [--kubeconfig PATH] [--context NAME] [-n NAMESPACE] [POD] [-o table|json] [-f DUMP]",
		"seed 002's auth check: each sidecar's inbound mTLS modes, outbound TLS, certificates", runAuthcheck)
}

// authcheckTimeout bounds the whole command: listing pods and one exec per sidecar.
const authcheckTimeout = 2 * time.Minute

func runAuthcheck(args []string, stdout, stderr io.Writer) int {
	fs, fail := newCommand("authcheck", stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig path (default $KUBECONFIG, then ~/.kube/config)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: current)")
	namespace := fs.String("n", "", "namespace (default: all namespaces; required with POD)")
	output := fs.String("o", "table", "output format: table or json")
	dumpFile := fs.String("f", "", "read one config dump from this file instead of a cluster (- for stdin)")
	// POD may come before or after the flags (kubectl style): parse, take one positional,
	// parse the rest.
	var pod string
	rest := args
	for {
		if ok, code := parseFlagsAllowArgs(fs, rest, stdout, stderr); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		if pod != "" {
			return fail(2, "unexpected argument %q (one POD at most)", fs.Arg(0))
		}
		pod, rest = fs.Arg(0), fs.Args()[1:]
	}
	if *output != "table" && *output != "json" {
		return fail(2, "-o %q: want table or json", *output)
	}

	var reports []*authcheck.Report
	if *dumpFile != "" {
		if pod != "" || *kubeconfig != "" || *kubeContext != "" {
			return fail(2, "-f reads a dump file; it takes no POD, --kubeconfig or --context")
		}
		// The file is the user's input: missing or unreadable is bad input.
		data, err := readInput(*dumpFile)
		if err != nil {
			return fail(2, "%v", err)
		}
		r, err := analyze(*dumpFile, data)
		if err != nil {
			return fail(2, "%v", err)
		}
		reports = append(reports, r)
	} else {
		if pod != "" && *namespace == "" {
			return fail(2, "POD %q needs -n NAMESPACE", pod)
		}
		ctx, cancel := context.WithTimeout(context.Background(), authcheckTimeout)
		defer cancel()
		conn, err := cluster.Connect(ctx, cluster.ConnectOptions{Kubeconfig: *kubeconfig, Context: *kubeContext})
		if cluster.BadSelection(err) {
			return fail(2, "%v", err) // no kubeconfig file, an unknown context: the user's input
		}
		if err != nil {
			return fail(1, "%v", err)
		}
		fetcher, err := authcheck.NewFetcher(conn.Config)
		if err != nil {
			return fail(1, "%v", err)
		}
		pods, err := fetcher.Sidecars(ctx, *namespace, pod)
		if err != nil {
			return fail(1, "%v", err)
		}
		if len(pods) == 0 {
			where := "any namespace"
			if *namespace != "" {
				where = "namespace " + *namespace
			}
			return fail(1, "no running pod with an %s container in %s", mesh.SidecarContainer, where)
		}
		for i := range pods {
			p := &pods[i]
			data, err := fetcher.ConfigDump(ctx, p)
			if err != nil {
				return fail(1, "%v", err)
			}
			r, err := analyze(p.Name+"."+p.Namespace, data)
			if err != nil {
				return fail(1, "%v", err)
			}
			reports = append(reports, r)
		}
	}
	// Everything is fetched and analysed before anything is printed.
	if *output == "json" {
		if err := authcheck.WriteJSON(stdout, reports); err != nil {
			return fail(1, "%v", err)
		}
		return 0
	}
	for i, r := range reports {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := r.WriteTable(stdout); err != nil {
			return fail(1, "%v", err)
		}
	}
	return 0
}

func analyze(name string, data []byte) (*authcheck.Report, error) {
	d, err := authcheck.ParseConfigDump(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r, err := authcheck.Analyze(name, d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}
