package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/mtls-conformance/mtls-conformance/versions"
)

// `conformance versions --check` says which pins are behind what is released.

// kindLatestURL is where kind's newest release is read: the Go module proxy's @latest for
// sigs.k8s.io/kind, which is the newest release tag (pre-releases only when there is no release;
// go.dev/ref/mod#goproxy-protocol). Chosen over GitHub's releases API because a GitHub Actions
// runner reaches it without a token or the API's per-IP rate limit, this project's machines reach
// it too (go.mod's sigs.k8s.io/kind comes from it), and kind's release tags are its module
// versions.
const kindLatestURL = "https://proxy.golang.org/sigs.k8s.io/kind/@latest"

// The charts a release needs: the suite installs both (suites/framework/istio), so a version
// counts as released only when the index lists base and istiod at it.
var istioCharts = []string{"base", "istiod"}

// pinsBehindExit is the exit code of `versions --check` when a pin is behind (0: none is,
// 1: a source could not be read, 2: bad input).
const pinsBehindExit = 3

// sourceTimeout bounds each fetch; a source that does not answer is unreachable.
const sourceTimeout = 60 * time.Second

// maxSourceBytes caps what is read from a source (Istio's index lists every chart of every release).
const maxSourceBytes = 64 << 20

// checkSourceURL accepts an absolute http(s) URL: bad input otherwise.
func checkSourceURL(flagName, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--%s %q is not an http:// or https:// URL", flagName, raw)
	}
	return nil
}

// checkPins reads both sources and returns one line per pin that is behind. Every error names
// the URL it is about and is one line.
func checkPins(client *http.Client, pins *versions.Versions, chartIndex, kindLatest string) ([]string, error) {
	released, err := releasedIstio(client, chartIndex)
	if err != nil {
		return nil, err
	}
	istio, err := pins.IstioBehind(released)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", chartIndex, err)
	}
	latest, err := latestKind(client, kindLatest)
	if err != nil {
		return nil, err
	}
	kind, err := pins.KindBehind(latest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kindLatest, err)
	}
	return append(istio, kind...), nil
}

// fetch GETs a source; anything but 200 is an error naming the URL.
func fetch(client *http.Client, source string) ([]byte, error) {
	resp, err := client.Get(source)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("cannot reach %s: %v", source, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cannot read %s: HTTP %s", source, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSourceBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", source, err)
	}
	if len(body) > maxSourceBytes {
		return nil, fmt.Errorf("cannot read %s: larger than %d bytes", source, maxSourceBytes)
	}
	return body, nil
}

// releasedIstio returns the versions at which the chart index lists both base and istiod. It is
// parsed by Helm's own repo package (LoadIndexFile: YAML or JSON, apiVersion required, entries
// that are not valid chart metadata dropped), which reads only files, hence the temporary copy.
func releasedIstio(client *http.Client, source string) ([]string, error) {
	body, err := fetch(client, source)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "chart-index-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "index.yaml")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		return nil, err
	}
	idx, err := repo.LoadIndexFile(file)
	if err != nil {
		// Helm's error names the temporary file; say which source it was instead.
		msg := strings.ReplaceAll(err.Error(), "error loading "+file+": ", "")
		return nil, fmt.Errorf("%s: not a Helm repository index: %s", source, oneLine(msg))
	}
	var released []string
	for i, name := range istioCharts {
		cvs, ok := idx.Entries[name]
		if !ok || len(cvs) == 0 {
			return nil, fmt.Errorf("%s: the index has no %s chart (entries.%s)", source, name, name)
		}
		var at []string
		for _, cv := range cvs {
			at = append(at, cv.Version)
		}
		if i == 0 {
			released = at
		} else {
			released = slices.DeleteFunc(released, func(v string) bool { return !slices.Contains(at, v) })
		}
	}
	return released, nil
}

// latestKind reads the Go module proxy's @latest answer for sigs.k8s.io/kind ({"Version": ...}).
func latestKind(client *http.Client, source string) (string, error) {
	body, err := fetch(client, source)
	if err != nil {
		return "", err
	}
	var info struct {
		Version string
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("%s: not a Go module proxy @latest answer: %s", source, oneLine(err.Error()))
	}
	if info.Version == "" {
		return "", fmt.Errorf("%s: not a Go module proxy @latest answer: no Version", source)
	}
	return info.Version, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// runVersionsCheck is `versions --check` after its flags were checked.
func runVersionsCheck(pins *versions.Versions, chartIndex, kindLatest string, stdout, stderr io.Writer) int {
	client := &http.Client{Timeout: sourceTimeout}
	lines, err := checkPins(client, pins, chartIndex, kindLatest)
	if err != nil {
		fmt.Fprintf(stderr, "conformance versions --check: %s\n", oneLine(err.Error()))
		return 1
	}
	if len(lines) == 0 {
		fmt.Fprintf(stdout, "no pin is behind: istio %s; kind %s\n", strings.Join(pins.IstioVersions(), ", "), pins.Kind.Version)
		return 0
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return pinsBehindExit
}
