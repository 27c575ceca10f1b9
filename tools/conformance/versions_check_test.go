package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

// serveFiles serves testdata/pins files by name (GET /index-current.yaml) and 404 otherwise.
func serveFiles(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join("testdata", "pins"))))
	t.Cleanup(srv.Close)
	return srv
}

// recordedPins are the pins the recorded files were written against; they do not move when
// versions.yaml does.
func recordedPins() *versions.Versions {
	return &versions.Versions{
		Istio: versions.IstioPins{Releases: []versions.IstioRelease{{Version: "1.31.1"}, {Version: "1.30.5"}, {Version: "1.29.9"}}},
		Kind:  versions.KindPins{Version: "v0.33.0"},
	}
}

// TestVersionsCheckRecorded compares the recorded pins with recorded chart indexes and kind
// answers served over HTTP.
func TestVersionsCheckRecorded(t *testing.T) {
	srv := serveFiles(t)
	for _, tc := range []struct {
		index, kind string
		want        []string
	}{
		{"index-current.yaml", "kind-latest-current.json", nil},
		// 1.30.6 has only its base chart: not released until istiod is published too.
		{"index-newer-patch.yaml", "kind-latest-current.json", []string{"istio 1.31: 1.31.1 pinned, 1.31.2 released"}},
		{"index-newer-minor.yaml", "kind-latest-current.json", []string{"istio: 1.32.1 released, newest pinned minor is 1.31"}},
		{"index-current.yaml", "kind-latest-newer.json", []string{"kind: v0.33.0 pinned, v0.34.0 released"}},
		{"index-newer-patch.yaml", "kind-latest-newer.json", []string{"istio 1.31: 1.31.1 pinned, 1.31.2 released", "kind: v0.33.0 pinned, v0.34.0 released"}},
	} {
		t.Run(tc.index+"+"+tc.kind, func(t *testing.T) {
			got, err := checkPins(http.DefaultClient, recordedPins(), srv.URL+"/"+tc.index, srv.URL+"/"+tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("checkPins =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestVersionsCheckSourceErrors: a source that cannot be read, or does not say what it must, is
// an error naming its URL.
func TestVersionsCheckSourceErrors(t *testing.T) {
	srv := serveFiles(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	kindOK := srv.URL + "/kind-latest-current.json"
	for _, tc := range []struct {
		name, index, kind string
		want              []string
	}{
		{"unreachable index", deadURL + "/index.yaml", kindOK, []string{"cannot reach " + deadURL + "/index.yaml"}},
		{"unreachable kind", srv.URL + "/index-current.yaml", deadURL + "/@latest", []string{"cannot reach " + deadURL + "/@latest"}},
		{"index not found", srv.URL + "/nope.yaml", kindOK, []string{srv.URL + "/nope.yaml", "404 Not Found"}},
		{"malformed index", srv.URL + "/index-malformed.yaml", kindOK, []string{srv.URL + "/index-malformed.yaml", "not a Helm repository index"}},
		{"not an index at all", srv.URL + "/kind-latest-current.json", kindOK, []string{srv.URL + "/kind-latest-current.json", "not a Helm repository index"}},
		{"kind answer not JSON", srv.URL + "/index-current.yaml", srv.URL + "/index-current.yaml", []string{srv.URL + "/index-current.yaml", "not a Go module proxy @latest answer"}},
		{"kind answer without a release", srv.URL + "/index-current.yaml", srv.URL + "/index-malformed.yaml", []string{srv.URL + "/index-malformed.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkPins(http.DefaultClient, recordedPins(), tc.index, tc.kind)
			if err == nil {
				t.Fatalf("checkPins = %v, want an error", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
		})
	}
}

// indexFor writes, with Helm's own repo package, an index listing base and istiod at each version.
func indexFor(t *testing.T, istio ...string) []byte {
	t.Helper()
	idx := repo.NewIndexFile()
	for _, v := range istio {
		for _, name := range []string{"base", "istiod"} {
			md := &chart.Metadata{APIVersion: chart.APIVersionV2, Name: name, Version: v, AppVersion: v}
			if err := idx.MustAdd(md, name+"-"+v+".tgz", "https://charts.example", "sha256:0123"); err != nil {
				t.Fatal(err)
			}
		}
	}
	data, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pinServer serves a chart index and a Go proxy @latest answer for the current pins.
func pinServer(t *testing.T, index []byte, kind string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/charts/index.yaml", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(index) })
	mux.HandleFunc("/sigs.k8s.io/kind/@latest", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"Version":"` + kind + `","Time":"2026-08-20T17:41:05Z"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestVersionsCheckCLI: the command's lines and exit codes against the pins of versions.yaml.
func TestVersionsCheckCLI(t *testing.T) {
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	newestPin, _ := versions.ParseIstioVersion(pins.Istio.Releases[0].Version)
	nextPatch := newestPin
	nextPatch.Patch++
	check := func(srv *httptest.Server) []string {
		return []string{"versions", "--check", "--chart-index", srv.URL + "/charts/index.yaml", "--kind-latest", srv.URL + "/sigs.k8s.io/kind/@latest"}
	}

	// Nothing behind: exit 0, one line saying so.
	srv := pinServer(t, indexFor(t, pins.IstioVersions()...), pins.Kind.Version)
	out, errOut, code := runCLI(t, check(srv)...)
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "no pin is behind") || strings.Count(out, "\n") != 1 {
		t.Errorf("current pins: exit %d, stdout %q, stderr %q; want 0 and one line 'no pin is behind ...'", code, out, errOut)
	}

	// A newer patch and a newer kind: exit 3, one line each on stdout.
	srv = pinServer(t, indexFor(t, append(pins.IstioVersions(), nextPatch.String())...), "v99.0.0")
	out, errOut, code = runCLI(t, check(srv)...)
	want := "istio " + newestPin.Minor() + ": " + newestPin.String() + " pinned, " + nextPatch.String() + " released\n" +
		"kind: " + pins.Kind.Version + " pinned, v99.0.0 released\n"
	if code != 3 || out != want || errOut != "" {
		t.Errorf("behind: exit %d, stdout %q, stderr %q; want 3 and\n%s", code, out, errOut, want)
	}

	// Unreachable: exit 1, one line on stderr naming the URL, nothing on stdout.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/charts/index.yaml"
	dead.Close()
	out, errOut, code = runCLI(t, "versions", "--check", "--chart-index", deadURL, "--kind-latest", srv.URL+"/sigs.k8s.io/kind/@latest")
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "cannot reach "+deadURL) {
		t.Errorf("unreachable: exit %d, stdout %q, stderr %q; want 1 and one line naming %s", code, out, errOut, deadURL)
	}

	// Malformed index: exit 1 (the source is wrong, not the command line), one line.
	malformed, err := os.ReadFile(filepath.Join("testdata", "pins", "index-malformed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	srv = pinServer(t, malformed, pins.Kind.Version)
	out, errOut, code = runCLI(t, check(srv)...)
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, srv.URL+"/charts/index.yaml") {
		t.Errorf("malformed: exit %d, stdout %q, stderr %q; want 1 and one line naming the index", code, out, errOut)
	}

	// Bad input: one line, exit 2, nothing fetched.
	var hits int
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits++ }))
	defer counting.Close()
	for _, args := range [][]string{
		{"versions", "--chart-index", counting.URL},
		{"versions", "--kind-latest", counting.URL},
		{"versions", "--check", "--matrix", "--chart-index", counting.URL},
		{"versions", "--check", "--make", "--chart-index", counting.URL},
		{"versions", "--check", "--istio", "1.31.1", "--chart-index", counting.URL},
		{"versions", "--check", "--chart-index", "not a url", "--kind-latest", counting.URL},
		{"versions", "--check", "--chart-index", "ftp://example.com/index.yaml", "--kind-latest", counting.URL},
		{"versions", "--check", "--chart-index", counting.URL, "--kind-latest", "/relative"},
		{"versions", "--check", "stray"},
	} {
		out, errOut, code := runCLI(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line", args, code, out, errOut)
		}
	}
	if hits != 0 {
		t.Errorf("bad input fetched %d times", hits)
	}
}
