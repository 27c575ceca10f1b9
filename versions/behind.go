package versions

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Behind compares the pins with what is released: released lists every Istio version published
// (pre-releases included; they are skipped, since the suite pins releases only), kindLatest is
// kind's newest release. It returns one line per pin that is behind, nil when none is:
//
//	istio 1.31: 1.31.1 pinned, 1.31.2 released   (a newer patch of a pinned minor)
//	istio: 1.32.0 released, newest pinned minor is 1.31   (one line per newer minor, its newest patch)
//	kind: v0.33.0 pinned, v0.34.0 released
//
// A version it cannot read, or a pinned Istio release missing from released (the wrong source),
// is an error rather than a silent "current".
func (v *Versions) Behind(released []string, kindLatest string) ([]string, error) {
	istio, err := v.IstioBehind(released)
	if err != nil {
		return nil, err
	}
	kind, err := v.KindBehind(kindLatest)
	if err != nil {
		return nil, err
	}
	return append(istio, kind...), nil
}

// IstioBehind is Behind's Istio half: the lines for the pinned Istio releases.
func (v *Versions) IstioBehind(released []string) ([]string, error) {
	if len(released) == 0 {
		return nil, fmt.Errorf("the source lists no Istio release")
	}
	// The newest stable patch of each released minor, keyed by "MAJOR.MINOR".
	newest := map[string]IstioVersion{}
	all := map[string]bool{}
	for _, s := range released {
		iv, err := ParseIstioVersion(s)
		if err != nil {
			return nil, err
		}
		if iv.Pre != "" {
			continue
		}
		all[s] = true
		if n, ok := newest[iv.Minor()]; !ok || iv.Patch > n.Patch {
			newest[iv.Minor()] = iv
		}
	}
	var lines []string
	var top IstioVersion
	for i, rel := range v.Istio.Releases {
		pin, err := ParseIstioVersion(rel.Version)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			top = pin
		}
		if !all[rel.Version] {
			return nil, fmt.Errorf("Istio %s is pinned but not among the released versions", rel.Version)
		}
		if n := newest[pin.Minor()]; n.Patch > pin.Patch {
			lines = append(lines, fmt.Sprintf("istio %s: %s pinned, %s released", pin.Minor(), pin, n))
		}
	}
	var newer []IstioVersion
	for _, n := range newest {
		if top.olderMinorThan(n) {
			newer = append(newer, n)
		}
	}
	slices.SortFunc(newer, func(a, b IstioVersion) int {
		return cmp.Or(cmp.Compare(b.Major, a.Major), cmp.Compare(b.MinorNumber, a.MinorNumber))
	})
	for _, n := range newer {
		lines = append(lines, fmt.Sprintf("istio: %s released, newest pinned minor is %s", n, top.Minor()))
	}
	return lines, nil
}

// KindBehind is Behind's kind half: a line when kindLatest is newer than the pinned kind.
func (v *Versions) KindBehind(kindLatest string) ([]string, error) {
	latest, ok := parseKindVersion(kindLatest)
	if !ok {
		return nil, fmt.Errorf("kind release %q is not of the form vMAJOR.MINOR.PATCH", kindLatest)
	}
	pinned, ok := parseKindVersion(v.Kind.Version)
	if !ok {
		return nil, fmt.Errorf("kind.version %q is not of the form vMAJOR.MINOR.PATCH", v.Kind.Version)
	}
	if slices.Compare(latest, pinned) > 0 {
		return []string{fmt.Sprintf("kind: %s pinned, %s released", v.Kind.Version, kindLatest)}, nil
	}
	return nil, nil
}

// parseKindVersion reads a kind release tag, vMAJOR.MINOR.PATCH, as three comparable numbers.
func parseKindVersion(s string) ([]int, bool) {
	if !kindVersionRE.MatchString(s) {
		return nil, false
	}
	var out []int
	for _, part := range strings.Split(strings.TrimPrefix(s, "v"), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}
