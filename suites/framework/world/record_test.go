package world

import (
	"testing"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

func TestPlanned(t *testing.T) {
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	defaultImage, err := pins.NodeImageFor(pins.DefaultIstio)
	if err != nil {
		t.Fatal(err)
	}
	image1305, err := pins.NodeImageFor("1.30.5")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    settings.Settings
		want report.Environment
	}{
		{"kind, defaults", settings.Settings{ClusterMode: settings.ModeKind},
			report.Environment{ClusterMode: "kind", IstioVersion: pins.DefaultIstio, NodeImage: defaultImage}},
		{"kind, a version", settings.Settings{ClusterMode: settings.ModeKind, IstioVersion: "1.30.5"},
			report.Environment{ClusterMode: "kind", IstioVersion: "1.30.5", NodeImage: image1305}},
		{"kind, a node image", settings.Settings{ClusterMode: settings.ModeKind, NodeImage: defaultImage, IstioVersion: "1.30.5"},
			report.Environment{ClusterMode: "kind", IstioVersion: "1.30.5", NodeImage: defaultImage}},
		// An unknown version has no node image; the cluster step says why.
		{"kind, unknown version", settings.Settings{ClusterMode: settings.ModeKind, IstioVersion: "1.99.0"},
			report.Environment{ClusterMode: "kind", IstioVersion: "1.99.0"}},
		// The installed Istio is whatever the cluster runs, known once detected.
		{"existing", settings.Settings{ClusterMode: settings.ModeExisting},
			report.Environment{ClusterMode: "existing"}},
		{"existing, install", settings.Settings{ClusterMode: settings.ModeExisting, InstallIstio: true},
			report.Environment{ClusterMode: "existing", IstioVersion: pins.DefaultIstio}},
		{"existing, a version", settings.Settings{ClusterMode: settings.ModeExisting, IstioVersion: "1.30.5"},
			report.Environment{ClusterMode: "existing", IstioVersion: "1.30.5"}},
		// The topology is known from the settings alone, so an early failure's report has it.
		{"existing, INJECT=none", settings.Settings{ClusterMode: settings.ModeExisting, Inject: "none"},
			report.Environment{ClusterMode: "existing", Topology: "INJECT=none — expectations from the oracle, not the catalog"}},
	} {
		if c.want.Topology == "" {
			c.want.Topology = "documented (foo, bar injected)"
		}
		if got := Planned(c.s); got != c.want {
			t.Errorf("%s: Planned = %+v, want %+v", c.name, got, c.want)
		}
	}
}
