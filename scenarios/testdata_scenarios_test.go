package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// A file says which injected namespaces its expectations are written for; they are exact for
// a run with that topology only (the documented one when it says nothing).
func TestWrittenFor(t *testing.T) {
	none := fixtures.Variant{Injected: []string{}}
	documented := fixtures.Variant{}
	fooOnly := fixtures.Variant{Injected: []string{"foo"}}
	catalog, err := Catalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range catalog {
		if s.Inject != nil || !s.WrittenFor(documented) || !s.WrittenFor(fixtures.Variant{Injected: []string{"bar", "foo"}}) || s.WrittenFor(none) || s.WrittenFor(fooOnly) {
			t.Errorf("%s: a catalog file is written for the documented topology alone (inject %v)", s.Name, s.Inject)
		}
	}
	all, err := CatalogWithDir("testdata/failing")
	if err != nil {
		t.Fatal(err)
	}
	failing := all[len(all)-1]
	if len(all) != len(catalog)+1 || failing.Name != "failing-on-purpose" {
		t.Fatalf("CatalogWithDir: %d scenarios, last %q; want the catalog's %d then failing-on-purpose", len(all), failing.Name, len(catalog))
	}
	if failing.Inject == nil || len(failing.Inject) != 0 || !failing.WrittenFor(none) || failing.WrittenFor(documented) || failing.WrittenFor(fooOnly) {
		t.Errorf("inject: none: Inject %#v", failing.Inject)
	}
}

func TestCatalogWithDirRejects(t *testing.T) {
	data, err := os.ReadFile("testdata/failing/failing-on-purpose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for name, c := range map[string]struct{ dir, want string }{
		"missing":        {filepath.Join(t.TempDir(), "absent"), "no such file or directory"},
		"empty":          {t.TempDir(), "no scenario file (*.yaml)"},
		"catalog name":   {write("a.yaml", strings.Replace(string(data), "name: failing-on-purpose", "name: namespace-strict", 1)), `a.yaml: name: "namespace-strict" is already used by catalog/03-namespace-strict.yaml`},
		"bad namespace":  {write("b.yaml", strings.Replace(string(data), "\ninject: none\n", "\ninject: foo,nowhere\n", 1)), `b.yaml: inject: "nowhere" is not a fixture namespace`},
		"not a scenario": {write("c.yaml", "name: x\nbogus: 1\n"), `c.yaml: json: unknown field "bogus"`},
	} {
		_, err := CatalogWithDir(c.dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, c.want)
		}
	}
}
