package settings

import (
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

func TestDataplane(t *testing.T) {
	s, err := resolve(t, nil, nil)
	if err != nil || s.Dataplane != DataplaneSidecar || s.Ambient() {
		t.Fatalf("default: %q %v", s.Dataplane, err)
	}
	s, err = resolve(t, nil, map[string]string{"DATAPLANE": "ambient"})
	if err != nil || !s.Ambient() {
		t.Fatalf("DATAPLANE=ambient: %q %v", s.Dataplane, err)
	}
	s, err = resolve(t, []string{"--dataplane=sidecar"}, map[string]string{"DATAPLANE": "ambient"})
	if err != nil || s.Ambient() {
		t.Fatalf("flag must win over env: %q %v", s.Dataplane, err)
	}
	if _, err = resolve(t, nil, map[string]string{"DATAPLANE": "cilium"}); err == nil || !strings.Contains(err.Error(), `dataplane "cilium": want sidecar or ambient`) {
		t.Errorf("DATAPLANE=cilium: %v", err)
	}
	// INJECT chooses sidecar namespaces: with ambient it is one clear line, not the set enrolled.
	for _, inject := range []string{"utilities", "none", "foo,bar"} {
		_, err = resolve(t, nil, map[string]string{"DATAPLANE": "ambient", "INJECT": inject})
		if err == nil || err.Error() != "inject chooses sidecar namespaces; with dataplane ambient foo and bar are enrolled and no pod has a sidecar (leave INJECT unset)" {
			t.Errorf("ambient + INJECT=%s: %v", inject, err)
		}
	}
	if _, err = resolve(t, nil, map[string]string{"DATAPLANE": "ambient", "LOAD_IMAGES": "1"}); err == nil || !strings.HasPrefix(err.Error(), "load-images loads the sidecar data plane's images") {
		t.Errorf("ambient + LOAD_IMAGES: %v", err)
	}
	// The wire specs skip in ambient, even on the run's own kind cluster.
	s, _ = resolve(t, nil, map[string]string{"DATAPLANE": "ambient"})
	if err := s.CaptureAllowed(); err == nil || !strings.HasPrefix(err.Error(), "ambient: the wire specs capture a sidecar's traffic") {
		t.Errorf("ambient capture: %v", err)
	}
	s, _ = resolve(t, nil, nil)
	if err := s.CaptureAllowed(); err != nil {
		t.Errorf("sidecar capture on kind: %v", err)
	}
}

// TestFixtureVariantAmbient: DATAPLANE=ambient deploys the ambient fixtures (foo and bar
// enrolled, nothing injected), image overrides still apply; a sidecar run's variant is unchanged.
func TestFixtureVariantAmbient(t *testing.T) {
	s := Defaults()
	s.Dataplane = DataplaneAmbient
	s.CurlImage = "mirror.example/curl:1"
	v, err := s.FixtureVariant()
	if err != nil {
		t.Fatal(err)
	}
	if !v.Ambient || v.Injected != nil || len(v.Images) != 1 {
		t.Fatalf("ambient variant %+v", v)
	}
	topo, err := fixtures.LoadFor(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(topo.EnrolledNamespaces(), ",") != "foo,bar" || len(topo.InjectedNamespaces()) != 0 {
		t.Errorf("enrolled %v injected %v", topo.EnrolledNamespaces(), topo.InjectedNamespaces())
	}
	sidecar := Defaults()
	if v, err := sidecar.FixtureVariant(); err != nil || v.Ambient {
		t.Errorf("sidecar variant %+v %v", v, err)
	}
}
