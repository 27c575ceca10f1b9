package versions

import (
	"cmp"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// kind v0.33.0's release notes (github.com/kubernetes-sigs/kind/releases/tag/v0.33.0).
const (
	node137 = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
	node136 = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed"
	node135 = "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0"
)

func mustLoad(t *testing.T) *Versions {
	t.Helper()
	v, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLoadPins(t *testing.T) {
	v := mustLoad(t)
	if v.DefaultIstio != "1.32.0" {
		t.Errorf("DefaultIstio = %q, want 1.32.0", v.DefaultIstio)
	}
	if got, want := v.IstioVersions(), []string{"1.32.0", "1.31.4", "1.30.8"}; !slices.Equal(got, want) {
		t.Errorf("IstioVersions = %v, want %v", got, want)
	}
	if v.Kind.Version != "v0.33.0" {
		t.Errorf("kind = %q, want v0.33.0", v.Kind.Version)
	}
	if v.Istio.ChartRepository != "https://istio-release.storage.googleapis.com/charts" {
		t.Errorf("chart repository = %q", v.Istio.ChartRepository)
	}
	// kind's own default image (sigs.k8s.io/kind pkg/apis/config/defaults/image.go) heads the list.
	if v.Kind.NodeImages[0] != node137 {
		t.Errorf("first kind image = %q, want kind's default %q", v.Kind.NodeImages[0], node137)
	}
}

func TestNodeImageFor(t *testing.T) {
	v := mustLoad(t)
	for _, tc := range []struct{ istio, want string }{
		{"1.32.0", node137},
		{"1.31.4", node137},
		{"1.31.0-rc.4", node137}, // any patch of a pinned minor runs on that minor's image
		{"1.30.8", node136},
		{"1.30.2", node136},
	} {
		got, err := v.NodeImageFor(tc.istio)
		if err != nil {
			t.Errorf("NodeImageFor(%s): %v", tc.istio, err)
			continue
		}
		if got != tc.want {
			t.Errorf("NodeImageFor(%s) = %s, want %s", tc.istio, got, tc.want)
		}
	}
	_, err := v.NodeImageFor("1.29.9")
	if err == nil || !strings.Contains(err.Error(), "no kind node image is pinned for Istio 1.29 (versions.yaml pins 1.32, 1.31, 1.30)") {
		t.Errorf("NodeImageFor(1.29.9) error = %v", err)
	}
	_, err = v.NodeImageFor("v1.31.1")
	if err == nil || !strings.Contains(err.Error(), `invalid Istio version "v1.31.1": write 1.31.1 without the leading v`) {
		t.Errorf("NodeImageFor(v1.31.1) error = %v", err)
	}
}

func TestParseIstioVersion(t *testing.T) {
	for _, ok := range []string{"1.31.1", "1.31.0-rc.4", "1.31.0-alpha.0", "1.31.0-beta.2", "1.0.0", "2.0.10"} {
		iv, err := ParseIstioVersion(ok)
		if err != nil {
			t.Errorf("ParseIstioVersion(%q): %v", ok, err)
			continue
		}
		if iv.String() != ok {
			t.Errorf("round trip %q -> %q", ok, iv.String())
		}
	}
	for _, bad := range []string{"", "1.31", "1.31.x", "v1.31.1", "1.31.1.2", "latest", " 1.31.1", "1.31.1-dev", "01.31.1", "1.31.1-rc", "1.31.1;rm"} {
		_, err := ParseIstioVersion(bad)
		if err == nil {
			t.Errorf("ParseIstioVersion(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "invalid Istio version") {
			t.Errorf("ParseIstioVersion(%q) error is not one clear line: %q", bad, err)
		}
	}
	iv, _ := ParseIstioVersion("1.31.0-rc.4")
	if iv.Minor() != "1.31" || iv.Pre != "rc.4" || iv.Patch != 0 {
		t.Errorf("parsed 1.31.0-rc.4 as %+v", iv)
	}
}

func TestParseNodeImage(t *testing.T) {
	img, err := ParseNodeImage(node136)
	if err != nil {
		t.Fatal(err)
	}
	if img.Kubernetes != "v1.36.4" || img.Digest != "sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed" || img.KubeMinor() != 1036 {
		t.Errorf("ParseNodeImage = %+v", img)
	}
	for _, bad := range []string{
		"kindest/node:v1.36.4",                 // tag only: kind requires the digest
		"kindest/node:v1.36.4@sha256:099e0493", // short digest
		"docker.io/kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
		"kindest/node:latest@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
	} {
		if _, err := ParseNodeImage(bad); err == nil {
			t.Errorf("ParseNodeImage(%q) accepted", bad)
		}
	}
}

// TestParseRejects breaks the embedded file one rule at a time and checks each break is caught
// with a message naming it.
func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"node image outside Istio's range", "- version: \"1.30.8\"\n      kubernetes: {min: \"1.32\", max: \"1.36\"}\n      nodeImage: " + node136,
			"- version: \"1.30.8\"\n      kubernetes: {min: \"1.32\", max: \"1.36\"}\n      nodeImage: " + node137,
			"istio 1.30.8 nodeImage " + node137 + " runs Kubernetes v1.37.0, outside the 1.32..1.36 that Istio 1.30 supports"},
		{"not the newest in range", "- version: \"1.30.8\"\n      kubernetes: {min: \"1.32\", max: \"1.36\"}\n      nodeImage: " + node136,
			"- version: \"1.30.8\"\n      kubernetes: {min: \"1.32\", max: \"1.36\"}\n      nodeImage: " + node135,
			"istio 1.30.8 nodeImage should be " + node136},
		{"tag without digest", "    - " + node135, "    - kindest/node:v1.35.8", "not kindest/node:vX.Y.Z@sha256:<digest>"},
		{"default not pinned", `defaultIstio: "1.32.0"`, `defaultIstio: "1.32.1"`, "defaultIstio: Istio 1.32.1 is not pinned in versions.yaml (pinned: 1.32.0, 1.31.4, 1.30.8)"},
		{"bad default form", `defaultIstio: "1.32.0"`, `defaultIstio: "1.32"`, `invalid Istio version "1.32"`},
		{"unknown field", "images:\n", "images:\n  nginx: docker.io/nginx:1.27\n", `unknown field "nginx"`},
		{"source module not a pseudo-version", "sourceModule: v0.0.0-20260827124520-eed52ebb66ad", "sourceModule: release-1.31", `istio.sourceModule "release-1.31" is not a Go pseudo-version`},
		{"latest image", "curl: docker.io/curlimages/curl:8.16.0", "curl: docker.io/curlimages/curl:latest", "images.curl: image \"docker.io/curlimages/curl:latest\" must carry an explicit, non-latest tag"},
		{"gateway API version form", "gatewayAPI:\n  version: v1.6.0", "gatewayAPI:\n  version: 1.6", `gatewayAPI.version "1.6" is not of the form vMAJOR.MINOR.PATCH`},
		{"releases out of order", `- version: "1.30.8"`, `- version: "1.33.0"`, "istio.releases: 1.33.0 is listed after 1.31.4; list one release per minor, newest first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(versionsYAML), tc.old) {
				t.Fatalf("versions.yaml no longer contains %q; update the test", tc.old)
			}
			_, err := Parse([]byte(strings.Replace(string(versionsYAML), tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	v := mustLoad(t)
	got, err := v.Settings("")
	if err != nil {
		t.Fatal(err)
	}
	want := []Setting{
		{"ISTIO_VERSION", "1.32.0"},
		{"ISTIO_VERSIONS", "1.32.0,1.31.4,1.30.8"},
		{"ISTIO_CHART_REPO", "https://istio-release.storage.googleapis.com/charts"},
		{"ISTIO_SOURCE_MODULE", "istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad"},
		{"ISTIO_SOURCE_VERSION", "1.31.0"},
		{"KIND_VERSION", "v0.33.0"},
		{"KIND_NODE_IMAGE", node137},
		{"KUBERNETES_VERSION", "v1.37.0"},
		{"HTTPBIN_IMAGE", "docker.io/mccutchen/go-httpbin:v2.15.0"},
		{"CURL_IMAGE", "docker.io/curlimages/curl:8.16.0"},
		{"TCP_ECHO_IMAGE", "registry.istio.io/release/tcp-echo-server:1.3"},
		{"CAPTURE_IMAGE", "docker.io/nicolaka/netshoot:v0.13"},
		{"ENVTEST_KUBERNETES_VERSION", "v1.37.2"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Settings(\"\") =\n%v\nwant\n%v", got, want)
	}
	for _, s := range got {
		if strings.ContainsAny(s.Value, " \t'\"$") {
			t.Errorf("%s=%q would need quoting in Make or $GITHUB_ENV", s.Key, s.Value)
		}
	}
	older, err := v.Settings("1.30.8")
	if err != nil {
		t.Fatal(err)
	}
	if older[0] != (Setting{"ISTIO_VERSION", "1.30.8"}) || older[6] != (Setting{"KIND_NODE_IMAGE", node136}) || older[7] != (Setting{"KUBERNETES_VERSION", "v1.36.4"}) {
		t.Errorf("Settings(1.30.8) = %v", older)
	}
	if _, err := v.Settings("1.31"); err == nil {
		t.Error("Settings(1.31) accepted a malformed version")
	}
}

func TestMatrixJSON(t *testing.T) {
	got, err := mustLoad(t).MatrixJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"include":[` +
		`{"istio":"1.32.0","kubernetes":"v1.37.0","nodeImage":"` + node137 + `"},` +
		`{"istio":"1.31.4","kubernetes":"v1.37.0","nodeImage":"` + node137 + `"},` +
		`{"istio":"1.30.8","kubernetes":"v1.36.4","nodeImage":"` + node136 + `"}]}`
	if got != want {
		t.Errorf("MatrixJSON =\n%s\nwant\n%s", got, want)
	}
}

// TestGoModAgrees keeps the Go library pins and versions.yaml one truth: kind is linked as a
// library, the typed Istio clients are built from istio.io/client-go, and the Gateway API CRDs
// the ambient install creates are copied from sigs.k8s.io/gateway-api (fixtures/gatewayapi,
// whose test checks the copies against the module go.mod requires).
func TestGoModAgrees(t *testing.T) {
	v := mustLoad(t)
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for mod, want := range map[string]string{
		"sigs.k8s.io/kind":        v.Kind.Version,
		"istio.io/client-go":      "v" + v.DefaultIstio,
		"sigs.k8s.io/gateway-api": v.GatewayAPI.Version,
	} {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(mod) + ` (v\S+)`).FindSubmatch(gomod)
		if m == nil {
			t.Errorf("go.mod does not require %s", mod)
			continue
		}
		if string(m[1]) != want {
			t.Errorf("go.mod has %s %s, versions.yaml says %s", mod, m[1], want)
		}
	}
	// The version Istio's source requires is what tools/istiogen, which links it, resolves to:
	// the pin must be that one, the API Istio's controllers are built against.
	istiogen, err := os.ReadFile("../tools/istiogen/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	if m := regexp.MustCompile(`(?m)^\s*sigs\.k8s\.io/gateway-api (v\S+)`).FindSubmatch(istiogen); m != nil {
		got = string(m[1])
	}
	if got != v.GatewayAPI.Version {
		t.Errorf("tools/istiogen/go.mod resolves sigs.k8s.io/gateway-api to %q (Istio's requirement), versions.yaml says %s", got, v.GatewayAPI.Version)
	}
}

// TestFixtureImagesArePinned checks that the embedded manifests run exactly the pinned images.
func TestFixtureImagesArePinned(t *testing.T) {
	v := mustLoad(t)
	objs, err := fixtures.Objects()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]int{}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range containers {
			image, _ := c.(map[string]any)["image"].(string)
			if image != v.Images.Httpbin && image != v.Images.Curl && image != v.Images.TCPEcho {
				t.Errorf("%s/%s runs %q, which versions.yaml does not pin", o.GetNamespace(), o.GetName(), image)
			}
			used[image]++
		}
	}
	if used[v.Images.Httpbin] == 0 || used[v.Images.Curl] == 0 || used[v.Images.TCPEcho] == 0 {
		t.Errorf("pinned images unused by the fixtures: %v", used)
	}
}

func TestIstioVersionCompare(t *testing.T) {
	order := []string{"1.29.9", "1.30.0-alpha.1", "1.30.0-beta.0", "1.30.0-rc.2", "1.30.0-rc.10", "1.30.0", "1.30.5", "1.31.0", "2.0.0"}
	for i, a := range order {
		for j, b := range order {
			va, _ := ParseIstioVersion(a)
			vb, _ := ParseIstioVersion(b)
			want := cmp.Compare(i, j)
			if got := va.Compare(vb); got != want {
				t.Errorf("%s.Compare(%s) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// TestUpgradeNodeImageInsideBothRanges: the upgrade runs on the newest kind image both releases support
// (versions.yaml: 1.32 supports Kubernetes 1.33–1.37, 1.31 1.32–1.37, 1.30 1.32–1.36).
func TestUpgradeNodeImageInsideBothRanges(t *testing.T) {
	pins, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, to, want string }{
		{"1.31.4", "1.32.0", node137},
		{"1.30.8", "1.31.4", node136},
		{"1.30.8", "1.32.0", node136},
		{"1.30.0", "1.30.8", node136},
	} {
		got, err := pins.UpgradeNodeImage(tc.from, tc.to)
		if err != nil || got != tc.want {
			t.Errorf("UpgradeNodeImage(%s, %s) = %s, %v; want %s", tc.from, tc.to, got, err, tc.want)
		}
	}
	if _, err := pins.UpgradeNodeImage("1.29.9", "1.30.8"); err == nil || !strings.Contains(err.Error(), "no kind node image is pinned for Istio 1.29") {
		t.Errorf("unpinned minor: %v", err)
	}
	// Disjoint ranges: no image can serve both.
	narrowed := *pins
	narrowed.Istio.Releases = append([]IstioRelease{}, pins.Istio.Releases...)
	narrowed.Istio.Releases[0].Kubernetes = KubeRange{Min: "1.37", Max: "1.37"}
	narrowed.Istio.Releases[2].Kubernetes = KubeRange{Min: "1.32", Max: "1.36"}
	if _, err := narrowed.UpgradeNodeImage("1.30.8", "1.32.0"); err == nil || !strings.Contains(err.Error(), "Istio 1.30.8 supports Kubernetes 1.32..1.36 and Istio 1.32.0 1.37..1.37: no kind node image") {
		t.Errorf("disjoint ranges: %v", err)
	}
}
