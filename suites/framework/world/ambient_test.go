package world

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/istio"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// TestAmbientExpectations: in ambient every step's expectations are the scenario's ambient:
// block, DestinationRule scenarios are skipped with their file's reason, and the sidecar run is
// unchanged.
func TestAmbientExpectations(t *testing.T) {
	catalog := catalogtest.Catalog(t)
	ambient := settings.Defaults()
	ambient.Dataplane = settings.DataplaneAmbient
	sidecar := settings.Defaults()
	ran, skipped := 0, 0
	for _, sc := range catalog {
		if err := DataplaneSkip(sidecar, sc); (err != nil) != (sc.SidecarSkip != "") {
			t.Errorf("%s: skipped in a sidecar run: %v, the file's sidecar skip: %q", sc.Name, err, sc.SidecarSkip)
		}
		skip := DataplaneSkip(ambient, sc)
		for i := range sc.Steps {
			got, err := StepExpectations(ambient, sc, i)
			if err != nil {
				t.Fatalf("%s step %d: %v", sc.Name, i, err)
			}
			if len(got) != 36 {
				t.Fatalf("%s step %d: %d expectations", sc.Name, i, len(got))
			}
			for j, e := range got {
				if e.XFCC != nil && e.Class() != scenarios.ClassWaypoint || e.Class() == scenarios.ClassUpstreamError {
					t.Errorf("%s step %d: %s expects %s in ambient", sc.Name, i, e.Probe, e.Outcome)
				}
				if skip == nil && e.Outcome.String() != sc.Ambient.Expect[i][j].Outcome.String() {
					t.Errorf("%s step %d: %s: %s, the file says %s", sc.Name, i, e.Probe, e.Outcome, sc.Ambient.Expect[i][j].Outcome)
				}
			}
		}
		if skip != nil {
			skipped++
			if sc.Level == "destinationrule" && !strings.Contains(skip.Error(), sc.Ambient.Skip) {
				t.Errorf("%s: skip %q does not give the file's reason", sc.Name, skip)
			}
		} else {
			ran++
		}
	}
	if ran < 15 || DataplaneLabel(ambient) != "dataplane:ambient" || DataplaneLabel(sidecar) != "dataplane:sidecar" {
		t.Errorf("%d scenarios run in ambient, %d skipped; labels %q %q", ran, skipped, DataplaneLabel(ambient), DataplaneLabel(sidecar))
	}
}

func ambientSettings() settings.Settings {
	s := settings.Defaults()
	s.Dataplane = settings.DataplaneAmbient
	return s
}

// TestAmbientRunTopology: an ambient run deploys, predicts and probes one topology: foo and bar
// enrolled, nothing injected (so no sidecar barrier, listener or certificate spec); the
// report header says so; the baseline is the ambient oracle's, equal to the catalog's baseline
// ambient: block.
func TestAmbientRunTopology(t *testing.T) {
	s := ambientSettings()
	topo, err := RunTopology(s)
	if err != nil {
		t.Fatal(err)
	}
	st := BaselineState(topo)
	if len(st.Injected) != 0 || fmt.Sprint(st.Enrolled) != "map[bar:true foo:true]" {
		t.Errorf("baseline state: injected %v enrolled %v", st.Injected, st.Enrolled)
	}
	if got := TopologyText(s); got != "documented ambient (foo, bar enrolled)" {
		t.Errorf("TopologyText = %q", got)
	}
	w := &World{Settings: s, Topology: topo}
	baseline, err := w.Baseline()
	if err != nil {
		t.Fatal(err)
	}
	catalogBaseline := catalogtest.Scenario(t, "baseline").Ambient.Expect[0]
	if len(baseline) != len(catalogBaseline) {
		t.Fatalf("%d baseline probes, the catalog's ambient baseline has %d", len(baseline), len(catalogBaseline))
	}
	for i := range baseline {
		if baseline[i].Probe != catalogBaseline[i].Probe || baseline[i].Outcome.String() != catalogBaseline[i].Outcome.String() {
			t.Errorf("baseline %s: %s, the catalog's ambient baseline says %s", baseline[i].Probe, baseline[i].Outcome, catalogBaseline[i].Outcome)
		}
	}
	for _, sc := range []string{"namespace-strict", "utilities-injection"} {
		for i := range catalogtest.Scenario(t, sc).Steps {
			if le, err := ListenerExpectations(topo, catalogtest.Scenario(t, sc), i); err != nil || len(le) != 0 {
				t.Errorf("%s step %d: listener expectations %v %v in ambient (no sidecar)", sc, i, le, err)
			}
		}
	}
}

// TestDataplaneSkippedExpectationsUseTheEnrolledSet: a scenario skipped in ambient (a
// DestinationRule one) is still named by the ambient oracle's prediction for what the run enrols
// (foo and bar: sleep.foo reaches httpbin.bar over HBONE), never for a mesh with nothing in it.
func TestDataplaneSkippedExpectationsUseTheEnrolledSet(t *testing.T) {
	s := ambientSettings()
	sc := catalogtest.Scenario(t, "dr-istio-mutual-to-legacy")
	if DataplaneSkip(s, sc) == nil {
		t.Fatal("dr-istio-mutual-to-legacy runs in ambient; this test needs a skipped scenario")
	}
	for i := range sc.Steps {
		got, err := StepExpectations(s, sc, i)
		if err != nil {
			t.Fatal(err)
		}
		seen := false
		for _, e := range got {
			if e.From.String() == "sleep.foo" && e.To.String() == "httpbin.bar" {
				seen = true
				if e.Class() != scenarios.ClassHBONE {
					t.Errorf("step %d: %s is %s, want hbone (foo and bar enrolled)", i, e.Probe, e.Class())
				}
			}
		}
		if !seen {
			t.Errorf("step %d: no probe sleep.foo → httpbin.bar", i)
		}
	}
}

// TestAmbientEnrolmentScenarioRuns: utilities-injection runs in ambient (its second step enrols
// utilities, no restart) with its file's ambient: outcomes — curl reaches foo over HBONE only
// once enrolled.
func TestAmbientEnrolmentScenarioRuns(t *testing.T) {
	s := ambientSettings()
	sc := catalogtest.Scenario(t, "utilities-injection")
	if err := DataplaneSkip(s, sc); err != nil {
		t.Fatalf("utilities-injection skipped in ambient: %v", err)
	}
	if err := InjectionFixed(s, sc); err != nil {
		t.Fatalf("utilities-injection skipped in ambient: %v", err)
	}
	for i, want := range []scenarios.Class{scenarios.ClassReset, scenarios.ClassHBONE} {
		got, err := StepExpectations(s, sc, i)
		if err != nil {
			t.Fatal(err)
		}
		seen := false
		for _, e := range got {
			if e.From.String() == "curl.utilities" && e.To.String() == "httpbin.foo" && e.Port == 8000 {
				seen = true
				if e.Class() != want {
					t.Errorf("step %d: %s is %s, want %s", i, e.Probe, e.Class(), want)
				}
			}
		}
		if !seen {
			t.Errorf("step %d: no probe curl.utilities → httpbin.foo:8000", i)
		}
	}
}

// TestIstioOptionsAmbient: an ambient run installs istiod with the ambient profile on top of the
// run's own values; a sidecar run without it.
func TestIstioOptionsAmbient(t *testing.T) {
	s := ambientSettings()
	s.TrustDomain = "example.org"
	o := IstioOptions(s, nil)
	if o.Values["profile"] != istio.AmbientProfile || fmt.Sprint(o.Values["meshConfig"]) != "map[trustDomain:example.org]" {
		t.Errorf("ambient istiod values %v", o.Values)
	}
	if o := IstioOptions(settings.Defaults(), nil); o.Values["profile"] != nil {
		t.Errorf("sidecar istiod values %v", o.Values)
	}
}

type fakeAmbient struct {
	calls      []string
	installErr error
}

func (f *fakeAmbient) InstallAmbient(context.Context) error {
	f.calls = append(f.calls, "install")
	return f.installErr
}

func (f *fakeAmbient) WaitAmbientReady(context.Context) error {
	f.calls = append(f.calls, "wait")
	return nil
}

// TestInstallAmbient: ambient installs cni and ztunnel, then waits for them; a failed install is
// still recorded for Teardown (Helm leaves what it made); a sidecar run installs nothing.
func TestInstallAmbient(t *testing.T) {
	w := &World{Settings: settings.Defaults()}
	f := &fakeAmbient{}
	if err := w.installAmbient(t.Context(), f); err != nil || len(f.calls) != 0 || w.installedAmbient {
		t.Errorf("sidecar: calls %v err %v installed %v", f.calls, err, w.installedAmbient)
	}
	w = &World{Settings: ambientSettings()}
	if err := w.installAmbient(t.Context(), f); err != nil || strings.Join(f.calls, ",") != "install,wait" || !w.installedAmbient {
		t.Errorf("ambient: calls %v err %v installed %v", f.calls, err, w.installedAmbient)
	}
	w = &World{Settings: ambientSettings()}
	f = &fakeAmbient{installErr: errors.New("helm install ztunnel: boom")}
	if err := w.installAmbient(t.Context(), f); err == nil || strings.Join(f.calls, ",") != "install" || !w.installedAmbient {
		t.Errorf("failed install: calls %v err %v installed %v", f.calls, err, w.installedAmbient)
	}
}
