package upgrade

import (
	"flag"
	"fmt"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// InstallFirst makes the conformance settings s install From: the upgrade starts there.
// ISTIO_VERSION, which make exports for every target, is the conformance suite's and gives way;
// only an --istio-version given on fs that disagrees with --from is an error.
func (o Options) InstallFirst(fs *flag.FlagSet, s *settings.Settings) error {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "istio-version" })
	if explicit && s.IstioVersion != o.From {
		return fmt.Errorf("--istio-version=%s contradicts --from=%s; the upgrade installs --from first", s.IstioVersion, o.From)
	}
	s.IstioVersion = o.From
	return nil
}

// PickNodeImage sets s.NodeImage, in kind mode without --node-image, to the newest pinned node
// image both releases support (versions' UpgradeNodeImage), which settings.KindNodeImage then
// keeps: the pin for From alone could be outside To's support.
func (o Options) PickNodeImage(s *settings.Settings) error {
	if s.ClusterMode != settings.ModeKind || s.NodeImage != "" {
		return nil
	}
	pins, err := versions.Load()
	if err != nil {
		return err
	}
	image, err := pins.UpgradeNodeImage(o.From, o.To)
	if err != nil {
		return err
	}
	s.NodeImage = image
	return nil
}
