package world

import (
	"time"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
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

// Skipped is the record of a probe that did not run, with the reason (a failed step, a mesh-wide
// scenario on a cluster the suite did not create). Probes that ran are recorded with
// report.FromProbeResult.
func Skipped(s *scenarios.Scenario, stepIndex int, expected scenarios.ProbeOutcome, reason string) report.ProbeRecord {
	return report.ProbeRecord{
		Scenario: s.Name, Step: s.Steps[stepIndex].Name, StepIndex: stepIndex,
		From: expected.From, To: expected.To, Port: expected.Port, Expected: expected.Outcome,
		Verdict: report.VerdictSkipped, Message: reason, Time: time.Now().UTC(),
	}
}

// NotInForce is the record of a probe that was not run because its step never came into force on
// every sidecar: a sidecar that could not be read says nothing about mTLS (an infrastructure
// error); a sidecar whose configuration disagreed with the prediction fails the probe.
func NotInForce(s *scenarios.Scenario, stepIndex int, expected scenarios.ProbeOutcome, err *authcheck.PropagationError) report.ProbeRecord {
	verdict := report.VerdictFail
	if err.Unreadable() {
		verdict = report.VerdictInfraError
	}
	return report.ProbeRecord{
		Scenario: s.Name, Step: s.Steps[stepIndex].Name, StepIndex: stepIndex,
		From: expected.From, To: expected.To, Port: expected.Port, Expected: expected.Outcome,
		Verdict: verdict, Message: "not probed: " + err.Error(), Time: time.Now().UTC(),
	}
}
