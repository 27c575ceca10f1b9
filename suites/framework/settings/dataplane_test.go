package settings

import (
	"flag"
	"strings"
	"testing"
)

func TestDataplane(t *testing.T) {
	resolve := func(args []string, env map[string]string) (Settings, error) {
		s := Defaults()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		s.Bind(fs)
		if err := fs.Parse(args); err != nil {
			return s, err
		}
		return s, s.Resolve(fs, func(k string) string { return env[k] })
	}
	s, err := resolve(nil, nil)
	if err != nil || s.Dataplane != DataplaneSidecar || s.Ambient() {
		t.Fatalf("default: %q %v", s.Dataplane, err)
	}
	s, err = resolve(nil, map[string]string{"DATAPLANE": "ambient"})
	if err != nil || !s.Ambient() {
		t.Fatalf("DATAPLANE=ambient: %q %v", s.Dataplane, err)
	}
	s, err = resolve([]string{"--dataplane=sidecar"}, map[string]string{"DATAPLANE": "ambient"})
	if err != nil || s.Ambient() {
		t.Fatalf("flag must win over env: %q %v", s.Dataplane, err)
	}
	if _, err = resolve(nil, map[string]string{"DATAPLANE": "cilium"}); err == nil || !strings.Contains(err.Error(), `dataplane "cilium": want sidecar or ambient`) {
		t.Errorf("DATAPLANE=cilium: %v", err)
	}
	if _, err = resolve(nil, map[string]string{"DATAPLANE": "ambient", "INJECT": "utilities"}); err == nil || !strings.Contains(err.Error(), "inject") {
		t.Errorf("ambient + INJECT: %v", err)
	}
}
