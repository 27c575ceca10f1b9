package upgrade

import (
	"flag"
	"strings"
	"testing"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// The upgrade installs --from first: ISTIO_VERSION (the conformance suite's) gives way, an
// explicit --istio-version that disagrees is an error.
func TestInstallFirst(t *testing.T) {
	o := defaultOptions(t)
	for _, c := range []struct {
		name    string
		args    []string
		env     string
		wantErr string
	}{
		{name: "nothing given"},
		{name: "ISTIO_VERSION", env: o.To},
		{name: "--istio-version agrees", args: []string{"--istio-version=" + o.From}},
		{name: "--istio-version disagrees", args: []string{"--istio-version=" + o.To}, wantErr: "--istio-version=" + o.To + " contradicts --from=" + o.From},
	} {
		s := settings.Defaults()
		fs := flag.NewFlagSet("upgrade", flag.ContinueOnError)
		s.Bind(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		if err := s.Resolve(fs, func(k string) string { return map[string]string{"ISTIO_VERSION": c.env}[k] }); err != nil {
			t.Fatal(err)
		}
		err := o.InstallFirst(fs, &s)
		switch {
		case c.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err = %v, want %q", c.name, err, c.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case s.IstioVersion != o.From:
			t.Errorf("%s: installs %s, want --from %s", c.name, s.IstioVersion, o.From)
		}
	}
}

// In kind mode the node image is one both releases support, unless --node-image says otherwise;
// an existing cluster has none.
func TestPickNodeImage(t *testing.T) {
	o := defaultOptions(t)
	pins, err := versions.Load()
	if err != nil {
		t.Fatal(err)
	}
	both, err := pins.UpgradeNodeImage(o.From, o.To)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    settings.Settings
		want string
	}{
		{"kind", settings.Settings{ClusterMode: settings.ModeKind}, both},
		{"kind, --node-image", settings.Settings{ClusterMode: settings.ModeKind, NodeImage: "kindest/node:v1.0.0"}, "kindest/node:v1.0.0"},
		{"existing", settings.Settings{ClusterMode: settings.ModeExisting}, ""},
	} {
		if err := o.PickNodeImage(&c.s); err != nil || c.s.NodeImage != c.want {
			t.Errorf("%s: node image %q (%v), want %q", c.name, c.s.NodeImage, err, c.want)
		}
	}
	o.From = "1.20.0"
	if s := (settings.Settings{ClusterMode: settings.ModeKind}); o.PickNodeImage(&s) == nil {
		t.Error("a release versions.yaml does not pin has no node image")
	}
}

func defaultOptions(t *testing.T) Options {
	t.Helper()
	o, err := DefaultOptions()
	if err != nil {
		t.Fatal(err)
	}
	return o
}
