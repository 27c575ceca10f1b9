// Package versions holds every version pin of the project in one file, versions.yaml (embedded),
// and the rules that tie them together: an Istio release runs on a kind node image pinned by
// digest whose Kubernetes version that Istio supports. The Makefile and the CI workflow read the
// same file through `conformance versions`, so a pin is changed in one place.
package versions

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:embed versions.yaml
var versionsYAML []byte

// Versions is versions.yaml.
type Versions struct {
	// DefaultIstio is the Istio version used when ISTIO_VERSION is not set.
	DefaultIstio string     `json:"defaultIstio"`
	Istio        IstioPins  `json:"istio"`
	Kind         KindPins   `json:"kind"`
	Images       Images     `json:"images"`
	Envtest      Envtest    `json:"envtest"`
	GatewayAPI   GatewayAPI `json:"gatewayAPI"`
}

// IstioPins says where Istio's charts come from and which releases the suite is pinned to.
type IstioPins struct {
	ChartRepository string `json:"chartRepository"`
	// SourceModule is the istio.io/istio module version whose manifests/charts tests install.
	SourceModule string `json:"sourceModule"`
	// SourceVersion is the Istio release that SourceModule's commit is: the version the local
	// images (tools/localimages) stamp into the istiod they build from it.
	SourceVersion string `json:"sourceVersion"`
	// Releases lists one release per minor, newest first.
	Releases []IstioRelease `json:"releases"`
}

// IstioRelease is one pinned Istio release and the node image it runs on.
type IstioRelease struct {
	Version    string    `json:"version"`
	Kubernetes KubeRange `json:"kubernetes"`
	NodeImage  string    `json:"nodeImage"`
}

// KubeRange is the inclusive range of Kubernetes minors ("1.32") an Istio release supports.
type KubeRange struct {
	Min string `json:"min"`
	Max string `json:"max"`
}

// KindPins is the kind release and the node images built for it.
type KindPins struct {
	Version    string   `json:"version"`
	NodeImages []string `json:"nodeImages"`
}

// Images are the fixture workloads' images.
type Images struct {
	Httpbin string `json:"httpbin"`
	Curl    string `json:"curl"`
	TCPEcho string `json:"tcpEcho"`
	// Capture runs the wire specs' capture pod (tcpdump and a shell); not a fixture.
	Capture string `json:"capture"`
}

// Envtest pins the kube-apiserver the envtest tier builds.
type Envtest struct {
	Kubernetes string `json:"kubernetes"`
}

// GatewayAPI pins the Gateway API release whose CRDs the ambient install creates.
type GatewayAPI struct {
	// Version is the sigs.k8s.io/gateway-api module version (go.mod requires the same).
	Version string `json:"version"`
}

// Load parses and validates the embedded versions.yaml.
func Load() (*Versions, error) { return Parse(versionsYAML) }

// Parse parses and validates a versions file; unknown fields are errors so that a typo cannot
// silently drop a pin.
func Parse(data []byte) (*Versions, error) {
	var v Versions
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		return nil, fmt.Errorf("versions.yaml: %w", err)
	}
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("versions.yaml: %w", err)
	}
	return &v, nil
}

// Validate checks every pin's form and the rules between them.
func (v *Versions) Validate() error {
	if !kindVersionRE.MatchString(v.Kind.Version) {
		return fmt.Errorf("kind.version %q is not of the form vMAJOR.MINOR.PATCH", v.Kind.Version)
	}
	if len(v.Kind.NodeImages) == 0 {
		return fmt.Errorf("kind.nodeImages is empty")
	}
	for _, ref := range v.Kind.NodeImages {
		if _, err := ParseNodeImage(ref); err != nil {
			return fmt.Errorf("kind.nodeImages: %w", err)
		}
	}
	if !strings.HasPrefix(v.Istio.ChartRepository, "https://") {
		return fmt.Errorf("istio.chartRepository %q must be an https:// URL", v.Istio.ChartRepository)
	}
	if !pseudoVersionRE.MatchString(v.Istio.SourceModule) {
		return fmt.Errorf("istio.sourceModule %q is not a Go pseudo-version (v0.0.0-YYYYMMDDhhmmss-commit)", v.Istio.SourceModule)
	}
	if _, err := ParseIstioVersion(v.Istio.SourceVersion); err != nil {
		return fmt.Errorf("istio.sourceVersion: %w", err)
	}
	if len(v.Istio.Releases) == 0 {
		return fmt.Errorf("istio.releases is empty")
	}
	var previous *IstioVersion
	for _, rel := range v.Istio.Releases {
		if err := v.validateRelease(rel); err != nil {
			return err
		}
		iv, _ := ParseIstioVersion(rel.Version)
		if previous != nil && !iv.olderMinorThan(*previous) {
			return fmt.Errorf("istio.releases: %s is listed after %s; list one release per minor, newest first", rel.Version, previous)
		}
		previous = &iv
	}
	if _, err := v.Release(v.DefaultIstio); err != nil {
		return fmt.Errorf("defaultIstio: %w", err)
	}
	for name, ref := range map[string]string{"images.httpbin": v.Images.Httpbin, "images.curl": v.Images.Curl, "images.tcpEcho": v.Images.TCPEcho, "images.capture": v.Images.Capture} {
		if err := checkTaggedImage(ref); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if !kindVersionRE.MatchString(v.Envtest.Kubernetes) {
		return fmt.Errorf("envtest.kubernetes %q is not of the form vMAJOR.MINOR.PATCH", v.Envtest.Kubernetes)
	}
	if !kindVersionRE.MatchString(v.GatewayAPI.Version) {
		return fmt.Errorf("gatewayAPI.version %q is not of the form vMAJOR.MINOR.PATCH", v.GatewayAPI.Version)
	}
	return nil
}

func (v *Versions) validateRelease(rel IstioRelease) error {
	iv, err := ParseIstioVersion(rel.Version)
	if err != nil {
		return fmt.Errorf("istio.releases: %w", err)
	}
	lo, err := parseMinor(rel.Kubernetes.Min)
	if err != nil {
		return fmt.Errorf("istio %s kubernetes.min: %w", iv, err)
	}
	hi, err := parseMinor(rel.Kubernetes.Max)
	if err != nil {
		return fmt.Errorf("istio %s kubernetes.max: %w", iv, err)
	}
	if hi < lo {
		return fmt.Errorf("istio %s: kubernetes range %s..%s is empty", iv, rel.Kubernetes.Min, rel.Kubernetes.Max)
	}
	img, err := ParseNodeImage(rel.NodeImage)
	if err != nil {
		return fmt.Errorf("istio %s nodeImage: %w", iv, err)
	}
	if !slices.Contains(v.Kind.NodeImages, rel.NodeImage) {
		return fmt.Errorf("istio %s nodeImage %s is not one of kind %s's node images (kind.nodeImages)", iv, rel.NodeImage, v.Kind.Version)
	}
	if k := img.KubeMinor(); k < lo || k > hi {
		return fmt.Errorf("istio %s nodeImage %s runs Kubernetes %s, outside the %s..%s that Istio %s supports", iv, rel.NodeImage, img.Kubernetes, rel.Kubernetes.Min, rel.Kubernetes.Max, iv.Minor())
	}
	// The rule the file's comment states: the newest Kubernetes in range that kind ships.
	best := ""
	bestMinor := 0
	for _, ref := range v.Kind.NodeImages {
		cand, _ := ParseNodeImage(ref)
		if k := cand.KubeMinor(); k >= lo && k <= hi && k > bestMinor {
			best, bestMinor = ref, k
		}
	}
	if best != rel.NodeImage {
		return fmt.Errorf("istio %s nodeImage should be %s, the newest kind image inside Kubernetes %s..%s", iv, best, rel.Kubernetes.Min, rel.Kubernetes.Max)
	}
	return nil
}

// Release returns the pinned release with exactly this version.
func (v *Versions) Release(version string) (IstioRelease, error) {
	if _, err := ParseIstioVersion(version); err != nil {
		return IstioRelease{}, err
	}
	for _, rel := range v.Istio.Releases {
		if rel.Version == version {
			return rel, nil
		}
	}
	return IstioRelease{}, fmt.Errorf("Istio %s is not pinned in versions.yaml (pinned: %s)", version, strings.Join(v.IstioVersions(), ", "))
}

// IstioVersions lists the pinned Istio versions, newest first.
func (v *Versions) IstioVersions() []string {
	out := make([]string, 0, len(v.Istio.Releases))
	for _, rel := range v.Istio.Releases {
		out = append(out, rel.Version)
	}
	return out
}

// ReleaseForMinor returns the pinned release of istioVersion's minor. Any patch of a pinned
// minor runs on that minor's node image: Istio's supported Kubernetes range is per minor.
func (v *Versions) ReleaseForMinor(istioVersion string) (IstioRelease, error) {
	iv, err := ParseIstioVersion(istioVersion)
	if err != nil {
		return IstioRelease{}, err
	}
	var minors []string
	for _, rel := range v.Istio.Releases {
		r, _ := ParseIstioVersion(rel.Version)
		if r.Major == iv.Major && r.MinorNumber == iv.MinorNumber {
			return rel, nil
		}
		minors = append(minors, r.Minor())
	}
	return IstioRelease{}, fmt.Errorf("Istio %s: no kind node image is pinned for Istio %s (versions.yaml pins %s); set NODE_IMAGE to a kindest/node image by digest that Istio %s supports", istioVersion, iv.Minor(), strings.Join(minors, ", "), iv.Minor())
}

// NodeImageFor returns the kind node image that istioVersion runs on.
func (v *Versions) NodeImageFor(istioVersion string) (string, error) {
	rel, err := v.ReleaseForMinor(istioVersion)
	if err != nil {
		return "", err
	}
	return rel.NodeImage, nil
}

// Setting is one KEY=VALUE pair of `conformance versions`.
type Setting struct {
	Key   string
	Value string
}

// Settings returns the pins as KEY=VALUE pairs for Make and GitHub Actions ($GITHUB_ENV), for the
// given Istio version ("" means the default). The values contain no spaces or quotes, so the same
// lines are valid Make, shell and $GITHUB_ENV syntax.
func (v *Versions) Settings(istioVersion string) ([]Setting, error) {
	if istioVersion == "" {
		istioVersion = v.DefaultIstio
	}
	nodeImage, err := v.NodeImageFor(istioVersion)
	if err != nil {
		return nil, err
	}
	img, _ := ParseNodeImage(nodeImage)
	return []Setting{
		{"ISTIO_VERSION", istioVersion},
		{"ISTIO_VERSIONS", strings.Join(v.IstioVersions(), ",")},
		{"ISTIO_CHART_REPO", v.Istio.ChartRepository},
		{"ISTIO_SOURCE_MODULE", "istio.io/istio@" + v.Istio.SourceModule},
		{"ISTIO_SOURCE_VERSION", v.Istio.SourceVersion},
		{"KIND_VERSION", v.Kind.Version},
		{"KIND_NODE_IMAGE", nodeImage},
		{"KUBERNETES_VERSION", img.Kubernetes},
		{"HTTPBIN_IMAGE", v.Images.Httpbin},
		{"CURL_IMAGE", v.Images.Curl},
		{"TCP_ECHO_IMAGE", v.Images.TCPEcho},
		{"CAPTURE_IMAGE", v.Images.Capture},
		{"ENVTEST_KUBERNETES_VERSION", v.Envtest.Kubernetes},
	}, nil
}

// MatrixEntry is one job of the CI matrix: an Istio release on its node image.
type MatrixEntry struct {
	Istio      string `json:"istio"`
	Kubernetes string `json:"kubernetes"`
	NodeImage  string `json:"nodeImage"`
}

// Matrix is the GitHub Actions matrix (`strategy.matrix: ${{ fromJSON(...) }}`), one entry per
// pinned Istio release, newest first.
type Matrix struct {
	Include []MatrixEntry `json:"include"`
}

// Matrix returns the CI matrix.
func (v *Versions) Matrix() Matrix {
	m := Matrix{Include: []MatrixEntry{}}
	for _, rel := range v.Istio.Releases {
		img, _ := ParseNodeImage(rel.NodeImage)
		m.Include = append(m.Include, MatrixEntry{Istio: rel.Version, Kubernetes: img.Kubernetes, NodeImage: rel.NodeImage})
	}
	return m
}

// MatrixJSON is Matrix as one line of JSON.
func (v *Versions) MatrixJSON() (string, error) {
	b, err := json.Marshal(v.Matrix())
	return string(b), err
}

// IstioVersion is a parsed Istio release version: 1.31.1 or 1.31.0-rc.4.
type IstioVersion struct {
	Major       int
	MinorNumber int
	Patch       int
	// Pre is the pre-release part without the dash ("rc.4"), or "".
	Pre string
}

// Istio tags its releases MAJOR.MINOR.PATCH with optional -alpha.N, -beta.N or -rc.N
// (github.com/istio/istio/releases), and its Helm charts carry the same version without a "v".
var istioVersionRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-((?:alpha|beta|rc)\.(?:0|[1-9][0-9]*)))?$`)

var (
	kindVersionRE   = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)
	pseudoVersionRE = regexp.MustCompile(`^v0\.0\.0-[0-9]{14}-[0-9a-f]{12}$`)
)

// ParseIstioVersion checks the form of an Istio version before anything is created.
func ParseIstioVersion(s string) (IstioVersion, error) {
	m := istioVersionRE.FindStringSubmatch(s)
	if m == nil {
		hint := "expected MAJOR.MINOR.PATCH such as 1.31.1, optionally with -alpha.N, -beta.N or -rc.N"
		if strings.HasPrefix(s, "v") && istioVersionRE.MatchString(strings.TrimPrefix(s, "v")) {
			hint = "write " + strings.TrimPrefix(s, "v") + " without the leading v: Istio's charts are versioned without it"
		}
		return IstioVersion{}, fmt.Errorf("invalid Istio version %q: %s", s, hint)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	return IstioVersion{Major: major, MinorNumber: minor, Patch: patch, Pre: m[4]}, nil
}

func (v IstioVersion) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.MinorNumber, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// Minor is "MAJOR.MINOR", the unit Istio's support table uses.
func (v IstioVersion) Minor() string { return fmt.Sprintf("%d.%d", v.Major, v.MinorNumber) }

func (v IstioVersion) olderMinorThan(o IstioVersion) bool {
	return v.Major < o.Major || (v.Major == o.Major && v.MinorNumber < o.MinorNumber)
}

// Compare orders Istio versions: -1 when v is older than o, 0 when equal, 1 when newer. A
// pre-release comes before its release (semver §11); alpha < beta < rc.
func (v IstioVersion) Compare(o IstioVersion) int {
	if c := cmp.Or(cmp.Compare(v.Major, o.Major), cmp.Compare(v.MinorNumber, o.MinorNumber), cmp.Compare(v.Patch, o.Patch)); c != 0 {
		return c
	}
	switch {
	case v.Pre == o.Pre:
		return 0
	case v.Pre == "":
		return 1
	case o.Pre == "":
		return -1
	}
	vk, vn := splitPre(v.Pre)
	ok, on := splitPre(o.Pre)
	// alpha < beta < rc, alphabetically too.
	return cmp.Or(strings.Compare(vk, ok), cmp.Compare(vn, on))
}

// splitPre splits a pre-release ("rc.4") into its kind and number; the form was checked by
// ParseIstioVersion.
func splitPre(pre string) (string, int) {
	kind, num, _ := strings.Cut(pre, ".")
	n, _ := strconv.Atoi(num)
	return kind, n
}

// UpgradeNodeImage picks the kind node image for an upgrade from one Istio to another: the
// newest of kind's pinned images whose Kubernetes minor both releases support (their ranges,
// from istio.io data/compatibility/supportStatus.yml), so that neither runs outside its support.
func (v *Versions) UpgradeNodeImage(from, to string) (string, error) {
	relFrom, err := v.ReleaseForMinor(from)
	if err != nil {
		return "", err
	}
	relTo, err := v.ReleaseForMinor(to)
	if err != nil {
		return "", err
	}
	// The ranges were validated when the file was loaded.
	minor := func(s string) int { n, _ := parseMinor(s); return n }
	lo := max(minor(relFrom.Kubernetes.Min), minor(relTo.Kubernetes.Min))
	hi := min(minor(relFrom.Kubernetes.Max), minor(relTo.Kubernetes.Max))
	best, bestMinor := "", -1
	for _, ref := range v.Kind.NodeImages {
		img, err := ParseNodeImage(ref)
		if err != nil {
			return "", err
		}
		if k := img.KubeMinor(); k >= lo && k <= hi && k > bestMinor {
			best, bestMinor = ref, k
		}
	}
	if best == "" {
		return "", fmt.Errorf("Istio %s supports Kubernetes %s..%s and Istio %s %s..%s: no kind node image in versions.yaml is inside both; set NODE_IMAGE",
			from, relFrom.Kubernetes.Min, relFrom.Kubernetes.Max, to, relTo.Kubernetes.Min, relTo.Kubernetes.Max)
	}
	return best, nil
}

// NodeImage is a kind node image reference pinned by digest.
type NodeImage struct {
	Ref string
	// Kubernetes is the tag, the Kubernetes version inside ("v1.37.0").
	Kubernetes string
	Digest     string
	major      int
	minor      int
}

var nodeImageRE = regexp.MustCompile(`^kindest/node:(v([0-9]+)\.([0-9]+)\.[0-9]+)@(sha256:[0-9a-f]{64})$`)

// ParseNodeImage parses "kindest/node:vX.Y.Z@sha256:<64 hex>". kind's release notes require the
// digest: a tag alone may name an image built for another kind release.
func ParseNodeImage(ref string) (NodeImage, error) {
	m := nodeImageRE.FindStringSubmatch(ref)
	if m == nil {
		return NodeImage{}, fmt.Errorf("node image %q is not kindest/node:vX.Y.Z@sha256:<digest> (kind supports only images pinned by digest)", ref)
	}
	major, _ := strconv.Atoi(m[2])
	minor, _ := strconv.Atoi(m[3])
	return NodeImage{Ref: ref, Kubernetes: m[1], Digest: m[4], major: major, minor: minor}, nil
}

// KubeMinor is the Kubernetes minor as a comparable number (1.37 -> 1037).
func (n NodeImage) KubeMinor() int { return n.major*1000 + n.minor }

func parseMinor(s string) (int, error) {
	major, minor, ok := strings.Cut(s, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || strings.Contains(minor, ".") {
		return 0, fmt.Errorf("%q is not a Kubernetes minor such as 1.32", s)
	}
	return ma*1000 + mi, nil
}

// CheckImageRef accepts an image reference pinned by a tag or a digest (distribution/reference's
// grammar, simplified: lowercase path components, an optional registry host[:port]).
func CheckImageRef(ref string) error {
	if !imageRefRE.MatchString(ref) {
		return fmt.Errorf("image %q is not an image reference such as registry/name:tag or name@sha256:<digest>", ref)
	}
	return nil
}

var imageRefRE = regexp.MustCompile(`^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$`)

func checkTaggedImage(ref string) error {
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if ref == "" || colon < slash || strings.HasSuffix(ref, ":latest") {
		return fmt.Errorf("image %q must carry an explicit, non-latest tag", ref)
	}
	return nil
}
