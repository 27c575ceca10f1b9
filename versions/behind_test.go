package versions

import (
	"slices"
	"strings"
	"testing"
)

// fixedPins is a pin set that does not move when versions.yaml does: Istio 1.31.1, 1.30.5 and
// 1.29.9, kind v0.33.0.
func fixedPins() *Versions {
	return &Versions{
		Istio: IstioPins{Releases: []IstioRelease{{Version: "1.31.1"}, {Version: "1.30.5"}, {Version: "1.29.9"}}},
		Kind:  KindPins{Version: "v0.33.0"},
	}
}

func TestBehind(t *testing.T) {
	pinned := []string{"1.31.1", "1.31.0", "1.30.5", "1.30.4", "1.29.9", "1.28.3"}
	for _, tc := range []struct {
		name     string
		released []string
		kind     string
		want     []string
	}{
		{"nothing newer", pinned, "v0.33.0", nil},
		{"pre-releases are not releases", append(slices.Clone(pinned), "1.31.2-rc.0", "1.32.0-alpha.1", "1.32.0-beta.0"), "v0.33.0", nil},
		{"newer patch", append(slices.Clone(pinned), "1.31.2"), "v0.33.0",
			[]string{"istio 1.31: 1.31.1 pinned, 1.31.2 released"}},
		{"newest patch of each minor", append(slices.Clone(pinned), "1.30.7", "1.30.6", "1.29.10"), "v0.33.0",
			[]string{"istio 1.30: 1.30.5 pinned, 1.30.7 released", "istio 1.29: 1.29.9 pinned, 1.29.10 released"}},
		{"newer minors, newest patch of each, newest first", append(slices.Clone(pinned), "1.32.0", "1.32.1", "1.33.0", "1.33.0-rc.1"), "v0.33.0",
			[]string{"istio: 1.33.0 released, newest pinned minor is 1.31", "istio: 1.32.1 released, newest pinned minor is 1.31"}},
		{"newer major", append(slices.Clone(pinned), "2.0.0"), "v0.33.0",
			[]string{"istio: 2.0.0 released, newest pinned minor is 1.31"}},
		{"kind newer", pinned, "v0.34.0", []string{"kind: v0.33.0 pinned, v0.34.0 released"}},
		{"kind newer patch", pinned, "v0.33.1", []string{"kind: v0.33.0 pinned, v0.33.1 released"}},
		{"kind older than the pin is not behind", pinned, "v0.32.9", nil},
		{"all at once", append(slices.Clone(pinned), "1.31.2", "1.32.0"), "v0.34.0", []string{
			"istio 1.31: 1.31.1 pinned, 1.31.2 released",
			"istio: 1.32.0 released, newest pinned minor is 1.31",
			"kind: v0.33.0 pinned, v0.34.0 released",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fixedPins().Behind(tc.released, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Behind =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestBehindRejects: what it cannot compare is an error naming the value, never a silent "current".
func TestBehindRejects(t *testing.T) {
	pinned := []string{"1.31.1", "1.30.5", "1.29.9"}
	for _, tc := range []struct {
		name     string
		released []string
		kind     string
		want     string
	}{
		{"no releases", nil, "v0.33.0", "lists no Istio release"},
		{"malformed release", append(slices.Clone(pinned), "1.32"), "v0.33.0", `invalid Istio version "1.32"`},
		{"v-prefixed release", append(slices.Clone(pinned), "v1.32.0"), "v0.33.0", `invalid Istio version "v1.32.0"`},
		{"pin not released", []string{"1.31.1", "1.29.9"}, "v0.33.0", "Istio 1.30.5 is pinned but not among the released versions"},
		{"kind without v", pinned, "0.34.0", `kind release "0.34.0" is not of the form vMAJOR.MINOR.PATCH`},
		{"kind pre-release", pinned, "v0.34.0-alpha.1", `kind release "v0.34.0-alpha.1" is not of the form vMAJOR.MINOR.PATCH`},
		{"kind empty", pinned, "", `kind release "" is not of the form vMAJOR.MINOR.PATCH`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fixedPins().Behind(tc.released, tc.kind)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Behind = %v, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
}
