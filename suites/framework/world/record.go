package world

import (
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
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
// installed one is known once detected); in kind mode, the node image (NodeImage). What cannot
// be resolved stays empty: the setup step that needs it reports why.
func Planned(s settings.Settings) report.Environment {
	env := report.Environment{ClusterMode: s.ClusterMode, IstioVersion: s.IstioVersion, Topology: TopologyText(s)}
	installs := s.ClusterMode == settings.ModeKind || s.InstallIstio
	if env.IstioVersion == "" && installs {
		if pins, err := versions.Load(); err == nil {
			env.IstioVersion = pins.DefaultIstio
		}
	}
	if s.ClusterMode == settings.ModeKind {
		env.NodeImage, _ = NodeImage(s)
	}
	return env
}

// NodeImage is the kind node image of a run: --node-image, else the one versions.yaml pins for
// the Istio version (the requested one, else the default).
func NodeImage(s settings.Settings) (string, error) {
	if s.NodeImage != "" {
		return s.NodeImage, nil
	}
	pins, err := versions.Load()
	if err != nil {
		return "", err
	}
	version := s.IstioVersion
	if version == "" {
		version = pins.DefaultIstio
	}
	return pins.NodeImageFor(version)
}
