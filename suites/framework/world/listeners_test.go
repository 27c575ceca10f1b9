package world

import (
	"fmt"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
)

func TestListenerExpectations(t *testing.T) {
	topo, err := fixtures.Load()
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := scenarios.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"port-level-disable":  "[httpbin.foo:8000=PERMISSIVE httpbin.foo:8080=PERMISSIVE httpbin.bar:8000=STRICT httpbin.bar:8080=DISABLE]",
		"utilities-injection": "[httpbin.foo:8000=STRICT httpbin.foo:8080=STRICT httpbin.bar:8000=PERMISSIVE httpbin.bar:8080=PERMISSIVE]",
	}
	for _, s := range catalog {
		w, ok := want[s.Name]
		if !ok {
			continue
		}
		got, err := ListenerExpectations(topo, s, 0)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, le := range got {
			parts = append(parts, fmt.Sprintf("%s:%d=%s", le.Server.Ref, le.Port, le.Mode))
		}
		if fmt.Sprint(parts) != w {
			t.Errorf("%s: %v, want %s (httpbin.legacy has no sidecar and no listener)", s.Name, parts, w)
		}
		delete(want, s.Name)
	}
	if len(want) > 0 {
		t.Fatalf("scenarios not found: %v", want)
	}
}
