//go:build e2e

// Package mtls is the conformance suite: every catalog scenario (scenarios/catalog) as an
// Ordered container, every probe as its own spec. The engine lives in suites/framework and the
// Ginkgo glue in suites/suitekit; this package only says what is checked, in which order.
//
//	go tool ginkgo --tags e2e ./suites/mtls -- --cluster=existing --allow-mesh-wide
package mtls

import (
	"testing"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/suitekit"
)

// suite is the run's settings, report and world (suitekit.Suite).
var suite = suitekit.New(report.DefaultSuiteName)

func TestMTLS(t *testing.T) { suite.RunSpecs(t, suitekit.Hooks{}) }
