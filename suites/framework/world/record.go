package world

import (
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// NewRun creates the run folder and records what the settings say the run runs on before any
// stage runs, so the report of a failure that comes first (charts, cluster) still carries the
// cluster mode, the Istio version and the node image; Setup records what it finds on top.
func NewRun(s settings.Settings) (*report.Run, error) {
	run, err := report.NewRun(s.ReportsDir)
	if err != nil {
		return nil, err
	}
	if err := run.SetEnvironment(Planned(s)); err != nil {
		return nil, err
	}
	return run, nil
}

// Planned is the environment the settings ask for: the cluster mode; the topology (INJECT,
// TopologyText); the Istio version the run installs (the requested one, else the versions file's
// default), or on a cluster whose Istio the run only uses, the requested version if any (the
// installed one is known once detected); in kind mode, the node image (Settings.KindNodeImage). What cannot
// be resolved stays empty: the setup step that needs it reports why.
func Planned(s settings.Settings) report.Environment {
	env := report.Environment{ClusterMode: s.ClusterMode, IstioVersion: s.IstioVersion, Topology: TopologyText(s)}
	installs := s.ClusterMode == settings.ModeKind || s.InstallIstio
	if installs {
		env.IstioVersion, _ = s.IstioVersionOrDefault()
	}
	if s.ClusterMode == settings.ModeKind {
		env.NodeImage, _ = s.KindNodeImage()
	}
	return env
}
