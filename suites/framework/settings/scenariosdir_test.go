package settings

import (
	"path/filepath"
	"strings"
	"testing"
)

// SCENARIOS_DIR is taken from the repository root when relative (the test binary runs in its
// suite's folder) and read when resolved: a folder without valid scenario files is bad input
// naming the setting, before anything is created.
func TestScenariosDir(t *testing.T) {
	s, err := resolve(t, nil, map[string]string{"SCENARIOS_DIR": "scenarios/testdata/failing"})
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := filepath.Abs("../../../scenarios/testdata/failing"); s.ScenariosDir != want {
		t.Errorf("ScenariosDir %q, want %q", s.ScenariosDir, want)
	}
	_, err = resolve(t, nil, map[string]string{"SCENARIOS_DIR": "scenarios/testdata/invalid"})
	if err == nil || !strings.HasPrefix(err.Error(), "scenarios-dir: ") {
		t.Errorf("a folder of invalid policies: err = %v, want one naming scenarios-dir", err)
	}
	if s, err := resolve(t, nil, nil); err != nil || s.ScenariosDir != "" {
		t.Errorf("unset: %q, %v", s.ScenariosDir, err)
	}
}
