package scenarios_test

import (
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
)

// TestAmbientBlockRejects: a malformed ambient: block is one line naming the file and field.
func TestAmbientBlockRejects(t *testing.T) {
	topo := catalogtest.Topology(t)
	head := "name: x\ntitle: X\nlevel: mesh\nsources: [{istio: src}]\nsteps:\n- name: s1\n  expect:\n" +
		"  - to: httpbin.foo\n    from: {sleep.foo: plaintext, sleep.bar: plaintext, sleep.legacy: plaintext, curl.utilities: plaintext}\n" +
		"  - to: httpbin.bar\n    from: {sleep.foo: plaintext, sleep.bar: plaintext, sleep.legacy: plaintext, curl.utilities: plaintext}\n" +
		"  - to: httpbin.legacy\n    from: {sleep.foo: plaintext, sleep.bar: plaintext, sleep.legacy: plaintext, curl.utilities: plaintext}\n"
	all := func(class string) string {
		return "    - to: httpbin.foo\n      from: {sleep.foo: " + class + ", sleep.bar: hbone, sleep.legacy: plaintext, curl.utilities: plaintext}\n" +
			"    - to: httpbin.bar\n      from: {sleep.foo: hbone, sleep.bar: hbone, sleep.legacy: plaintext, curl.utilities: plaintext}\n" +
			"    - to: httpbin.legacy\n      from: {sleep.foo: plaintext, sleep.bar: plaintext, sleep.legacy: plaintext, curl.utilities: plaintext}\n"
	}
	if _, err := scenarios.Parse("ok.yaml", []byte(head+"ambient:\n  sources: [{istio: src}]\n  steps:\n  - step: s1\n    expect:\n"+all("hbone")), topo); err != nil {
		t.Fatalf("valid ambient block rejected: %v", err)
	}
	for want, body := range map[string]string{
		"ambient.sources":          "ambient:\n  skip: why\n",
		"set skip or steps":        "ambient:\n  skip: why\n  sources: [{istio: src}]\n  steps:\n  - step: s1\n    expect:\n" + all("hbone"),
		"ambient.steps: 0 steps":   "ambient:\n  sources: [{istio: src}]\n",
		"ambient.steps[0].step":    "ambient:\n  sources: [{istio: src}]\n  steps:\n  - step: other\n    expect:\n" + all("hbone"),
		"cannot happen in ambient": "ambient:\n  sources: [{istio: src}]\n  steps:\n  - step: s1\n    expect:\n" + all("mtls"),
		"is an ambient outcome":    strings.Replace(head, "{sleep.foo: plaintext", "{sleep.foo: hbone", 1),
	} {
		_, err := scenarios.Parse("bad.yaml", []byte(head+body), topo)
		if want == "is an ambient outcome" {
			_, err = scenarios.Parse("bad.yaml", []byte(body), topo)
		}
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "bad.yaml: ") {
			t.Errorf("want an error containing %q, got %v", want, err)
		}
	}
}
