package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

func init() {
	register("scenarios", "scenarios [-o table|json]", "list the catalog: name, level, source", runScenarios)
}

type scenarioRow struct {
	Name     string   `json:"name"`
	Title    string   `json:"title"`
	Level    string   `json:"level"`
	Labels   []string `json:"labels"`
	Steps    int      `json:"steps"`
	MeshWide bool     `json:"meshWide"`
	Sources  []string `json:"sources"`
	File     string   `json:"file"`
}

func runScenarios(args []string, stdout, stderr io.Writer) int {
	fs, fail := newCommand("scenarios", stderr)
	output := fs.String("o", "table", "output format: table or json")
	if ok, code := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *output != "table" && *output != "json" {
		return fail(2, "-o %q: want table or json", *output)
	}
	catalog, err := scenarios.Catalog()
	if err != nil {
		return fail(1, "%v", err)
	}
	var rows []scenarioRow
	for _, s := range catalog {
		r := scenarioRow{Name: s.Name, Title: s.Title, Level: s.Level, Labels: s.Labels(), Steps: len(s.Steps), MeshWide: s.MeshWide(), File: "scenarios/" + s.File}
		for _, src := range s.Sources {
			r.Sources = append(r.Sources, src.String())
		}
		rows = append(rows, r)
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLEVEL\tSTEPS\tMESH-WIDE\tSOURCE")
	for _, r := range rows {
		mesh := ""
		if r.MeshWide {
			mesh = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Name, r.Level, r.Steps, mesh, r.Sources[0])
	}
	_ = tw.Flush()
	return 0
}
