package cluster

import (
	"errors"
	"io/fs"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestCheckNodeImage(t *testing.T) {
	const digest = "sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
	for ref, wantWarning := range map[string]bool{
		"kindest/node:v1.37.0@" + digest:                     false, // kind's default, as listed
		"mirror.example:5000/kindest/node:v1.37.0@" + digest: false, // a mirror's copy: same digest
		"kindest/node:v1.37.0":                               true,  // a tag alone may be another build
		"localhost/mtls-conformance/kind-node:v1.37.2":       true,  // built here
	} {
		warning, err := CheckNodeImage(ref)
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if (warning != "") != wantWarning {
			t.Errorf("%s: warning %q, want one: %v", ref, warning, wantWarning)
		}
		if warning != "" && !strings.Contains(warning, "kind v0.33.0") {
			t.Errorf("%s: warning %q does not name the kind release", ref, warning)
		}
	}
	if _, err := CheckNodeImage("kindest/node"); err == nil {
		t.Error("an image without tag or digest was accepted")
	}
}

// The local tier's own patch file is one the suite takes, and it reaches the rendered config.
func TestConfigPatchLocalTier(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	patch, err := LoadConfigPatch(filepath.Join(filepath.Dir(file), "../../../tools/localimages/kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := RenderConfigYAML(ConfigSpec{Name: "x", NodeImage: "localhost/mtls-conformance/kind-node:v1.37.2", Patch: patch})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"disableDefaultCNI: true", "restrict_oom_score_adj = true", "failCgroupV1: false", "runc-nosysres"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("rendered config lacks %q:\n%s", want, cfg)
		}
	}
}

func TestConfigPatchRejectsWhatItDoesNotTake(t *testing.T) {
	head := "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
	for body, field := range map[string]string{
		"nodes:\n- role: worker\n":                `"nodes"`,
		"networking:\n  podSubnet: 10.0.0.0/16\n": `"networking.podSubnet"`,
		"featureGates:\n  Foo: true\n":            `"featureGates"`,
		"containerdConfigPatchez: []\n":           `"containerdConfigPatchez"`,
	} {
		_, err := ParseConfigPatch("p.yaml", []byte(head+body))
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%q: error %v, want one naming %s", body, err, field)
		}
	}
	if _, err := ParseConfigPatch("p.yaml", []byte("kind: Pod\napiVersion: v1\n")); err == nil {
		t.Error("a Pod was taken as a kind config patch")
	}
	if _, err := LoadConfigPatch(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
