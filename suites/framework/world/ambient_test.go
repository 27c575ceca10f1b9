package world

import (
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// TestAmbientExpectations: in ambient every step's expectations are the scenario's ambient:
// block, DestinationRule scenarios are skipped with their file's reason, and the sidecar run is
// unchanged.
func TestAmbientExpectations(t *testing.T) {
	catalog, err := scenarios.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	ambient := settings.Defaults()
	ambient.Dataplane = settings.DataplaneAmbient
	sidecar := settings.Defaults()
	ran, skipped := 0, 0
	for _, sc := range catalog {
		if AmbientSkip(sidecar, sc) != nil {
			t.Errorf("%s: skipped in a sidecar run", sc.Name)
		}
		skip := AmbientSkip(ambient, sc)
		for i := range sc.Steps {
			got, err := StepExpectations(ambient, sc, i)
			if err != nil {
				t.Fatalf("%s step %d: %v", sc.Name, i, err)
			}
			if len(got) != 36 {
				t.Fatalf("%s step %d: %d expectations", sc.Name, i, len(got))
			}
			for j, e := range got {
				if e.XFCC != nil || e.Class() == scenarios.ClassUpstreamError {
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
