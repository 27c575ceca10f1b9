package main

import (
	"io"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/scenarios/convert"
)

func init() {
	register("convert", "convert -f FILE [-f FILE]... [--selector SERVICE=key=value[,key=value]]... [--root-namespace NS]",
		"convert a removed v1alpha1 Policy/MeshPolicy (+ DestinationRules) to PeerAuthentication", runConvert)
}

func runConvert(args []string, stdout, stderr io.Writer) int {
	fs, fail := newCommand("convert", stderr)
	var files, selectors stringList
	fs.Var(&files, "f", "file with v1alpha1 Policy/MeshPolicy and DestinationRule documents (repeatable; - for stdin)")
	fs.Var(&selectors, "selector", "SERVICE=key=value[,key=value]: pod labels of a v1alpha1 target Service (repeatable)")
	root := fs.String("root-namespace", "istio-system", "Istio root namespace (where a MeshPolicy goes)")
	if ok, code := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if len(files) == 0 {
		return fail(2, "-f FILE is required")
	}
	opts := convert.Options{RootNamespace: *root, Selectors: map[string]map[string]string{}}
	for _, s := range selectors {
		svc, labels, ok := strings.Cut(s, "=")
		if !ok || svc == "" || labels == "" {
			return fail(2, "--selector %q: want SERVICE=key=value[,key=value]", s)
		}
		m := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fail(2, "--selector %q: want SERVICE=key=value[,key=value]", s)
			}
			m[k] = v
		}
		opts.Selectors[svc] = m
	}
	var out []byte
	for _, f := range files {
		data, err := readInput(f)
		if err != nil {
			return fail(2, "%v", err)
		}
		objs, err := convert.Convert(data, opts)
		if err != nil {
			return fail(2, "%s: %v", f, err)
		}
		y, err := convert.YAML(objs)
		if err != nil {
			return fail(2, "%v", err)
		}
		if len(out) > 0 && len(y) > 0 {
			out = append(out, "---\n"...)
		}
		out = append(out, y...)
	}
	_, _ = stdout.Write(out)
	return 0
}
