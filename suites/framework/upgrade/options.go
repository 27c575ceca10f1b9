// Package upgrade is the engine of the upgrade verification suite (suites/upgrade): what an Istio
// upgrade from one release to the next consists of (Helm steps in place or as a canary revision,
// namespaces moved to the new revision, the old control plane removed), which sidecars the data
// plane runs at each point, and the background prober that counts every request whose outcome
// differs from the expected one while the upgrade runs. It knows nothing about Ginkgo.
package upgrade

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
	"github.com/mtls-conformance/mtls-conformance/versions"
)

// Mode is how the control plane is upgraded.
type Mode string

// The modes istio.io documents for Helm (content/en/docs/setup/upgrade/helm/index.md): "In place
// upgrade" (helm upgrade of istio-base and istiod) and "Canary upgrade (recommended)" (istiod
// installed again as a revision, workloads moved to it, the old istiod deleted).
const (
	InPlace Mode = "inplace"
	Canary  Mode = "canary"
)

// Modes lists every mode.
var Modes = []Mode{InPlace, Canary}

// ParseMode checks a --mode value.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("upgrade mode %q: want inplace or canary", s)
}

// Defaults.
const (
	// DefaultErrorBudget: any request with an unexpected outcome during the upgrade fails it.
	DefaultErrorBudget = 0
	// DefaultProbeInterval is the time between the starts of two background requests on one pair.
	DefaultProbeInterval = 500 * time.Millisecond
)

// Options are the upgrade suite's own settings; every other one is the conformance suite's
// (package settings). Like those, each is a flag and an environment variable of the same name;
// an explicit flag wins.
type Options struct {
	From string
	To   string
	// ToTag is the image tag of the TO control plane ("" = the TO chart's own, which for a
	// released chart is TO). With it, TO may equal FROM: the same release rebuilt under another
	// tag, as the local kind tier upgrades its one locally built istiod.
	ToTag string
	Mode  Mode
	// ErrorBudget is how many background requests may see an unexpected outcome.
	ErrorBudget int
	// ProbeInterval is the background prober's cadence per pair.
	ProbeInterval time.Duration
}

// DefaultOptions upgrades from N-1 to N: the second-newest and the newest release pinned in
// versions/versions.yaml, in place. A dry run builds its tree from these.
func DefaultOptions() (Options, error) {
	pins, err := versions.Load()
	if err != nil {
		return Options{}, err
	}
	rel := pins.IstioVersions()
	if len(rel) < 2 {
		return Options{}, fmt.Errorf("versions.yaml pins %d Istio release(s); an upgrade needs two (N-1 and N)", len(rel))
	}
	return Options{From: rel[1], To: rel[0], Mode: InPlace, ErrorBudget: DefaultErrorBudget, ProbeInterval: DefaultProbeInterval}, nil
}

func (o *Options) table() []settings.Binding {
	return []settings.Binding{
		{Flag: "from", Env: "UPGRADE_FROM", Usage: "Istio version installed first (default: N-1 of versions/versions.yaml)", Value: settings.String(&o.From)},
		{Flag: "to", Env: "UPGRADE_TO", Usage: "Istio version upgraded to (default: N of versions/versions.yaml)", Value: settings.String(&o.To)},
		{Flag: "to-tag", Env: "UPGRADE_TO_TAG", Usage: "image tag of the Istio upgraded to (default: the chart's own; needed with Istio's source charts); with it --to may equal --from", Value: settings.String(&o.ToTag)},
		{Flag: "mode", Env: "UPGRADE_MODE", Usage: "inplace (helm upgrade) or canary (new revision, namespaces moved, old control plane removed)", Value: (*modeValue)(&o.Mode)},
		{Flag: "error-budget", Env: "ERROR_BUDGET", Usage: "background requests allowed an unexpected outcome during the upgrade", Value: settings.Int(&o.ErrorBudget)},
		{Flag: "probe-interval", Env: "PROBE_INTERVAL", Usage: "time between two background requests on one pair", Value: settings.Duration(&o.ProbeInterval)},
	}
}

// Bind registers every option on fs, with o's current values as defaults.
func (o *Options) Bind(fs *flag.FlagSet) { settings.Bind(fs, o.table()) }

// Resolve applies the environment to every option whose flag was not given, then validates.
func (o *Options) Resolve(fs *flag.FlagSet, getenv func(string) string) error {
	if err := settings.ApplyEnv(fs, getenv, o.table()); err != nil {
		return err
	}
	return o.Validate()
}

// Validate rejects options that cannot describe an upgrade, before anything is created.
func (o *Options) Validate() error {
	var errs []string
	from, errFrom := versions.ParseIstioVersion(o.From)
	to, errTo := versions.ParseIstioVersion(o.To)
	switch {
	case errFrom != nil:
		errs = append(errs, "--from: "+errFrom.Error())
	case errTo != nil:
		errs = append(errs, "--to: "+errTo.Error())
	case from.Compare(to) > 0 || (from.Compare(to) == 0 && o.ToTag == ""):
		errs = append(errs, fmt.Sprintf("--to %s is not newer than --from %s (the same version upgrades only to another image tag, --to-tag)", o.To, o.From))
	}

	if _, err := ParseMode(string(o.Mode)); err != nil {
		errs = append(errs, err.Error())
	}
	if o.ErrorBudget < 0 {
		errs = append(errs, "error-budget must not be negative")
	}
	if o.ProbeInterval <= 0 {
		errs = append(errs, "probe-interval must be positive")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Revision is the revision name the canary control plane gets: the TO version with dashes, as
// istio.io's Helm docs name revisions ("--set revision=1-9-5"; revisions are DNS labels).
func (o *Options) Revision() string { return RevisionFor(o.To) }

// RevisionFor turns an Istio version into a revision name: 1.31.1 → 1-31-1, 1.31.0-rc.4 →
// 1-31-0-rc-4.
func RevisionFor(version string) string { return strings.ReplaceAll(version, ".", "-") }

type modeValue Mode

func (v *modeValue) String() string { return string(*v) }
func (v *modeValue) Set(s string) error {
	m, err := ParseMode(s)
	if err != nil {
		return err
	}
	*v = modeValue(m)
	return nil
}
