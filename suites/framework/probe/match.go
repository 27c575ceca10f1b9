package probe

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/xfcc"
)

// ErrInvalidExpectation marks an expected outcome no observation could ever match (a catalog
// bug): retrying is pointless, so Converge fails at once.
var ErrInvalidExpectation = errors.New("invalid expected outcome")

// validate rejects outcomes that contradict scenarios.Outcome's own contract: XFCC is set exactly
// when MTLS is, and XFCC only exists on a response from httpbin (exit 0, HTTP 200).
func validate(expected scenarios.Outcome) error {
	switch {
	case expected.Class() == scenarios.ClassHBONE:
		// Ambient: mTLS between ztunnels writes no XFCC; the response must carry none, and mTLS
		// itself is read from ztunnel's configuration (suites/framework/ztunnel).
		return nil
	case expected.MTLS != (expected.XFCC != nil):
		return fmt.Errorf("%w: MTLS=%t but XFCC %v", ErrInvalidExpectation, expected.MTLS, expected.XFCC)
	case expected.MTLS && (expected.ExitCode != 0 || expected.HTTPCode != http.StatusOK):
		return fmt.Errorf("%w: mTLS is only observable on exit 0, HTTP 200, got %s", ErrInvalidExpectation, expected)
	case expected.MTLS && (expected.XFCC.By == "" || expected.XFCC.URI == ""):
		return fmt.Errorf("%w: XFCC needs both By and URI, got %s", ErrInvalidExpectation, expected)
	}
	return nil
}

// Match reports whether an observation shows exactly the expected outcome: nil if it does, an
// error listing every difference if not. An observation whose exec failed never matches; its
// error wraps ErrInfrastructure.
//
// On exit 0 / HTTP 200 the echoed headers decide mTLS: XFCC must be absent when mTLS is not
// expected (present-but-unexpected fails), and when it is expected it must name the server as By,
// the client as URI, carry a SHA-256 Hash and Subject="" (xfcc.Verify); through an ambient
// waypoint (expected.Waypoint) it is exactly By=<waypoint>;URI=<client>.
func Match(expected scenarios.Outcome, obs *Observation) error {
	if err := validate(expected); err != nil {
		return err
	}
	if obs.Err != nil {
		return obs.Err
	}
	var diffs []string
	if obs.ExitCode != expected.ExitCode {
		diffs = append(diffs, fmt.Sprintf("curl exit code %d, want %d", obs.ExitCode, expected.ExitCode))
	}
	if obs.HTTPCode != expected.HTTPCode {
		diffs = append(diffs, fmt.Sprintf("HTTP %03d, want %03d", obs.HTTPCode, expected.HTTPCode))
	}
	if len(diffs) == 0 && expected.ExitCode == 0 && expected.HTTPCode == http.StatusOK {
		if obs.HeadersErr != nil {
			diffs = append(diffs, "cannot tell whether the connection was mTLS: "+obs.HeadersErr.Error())
		} else {
			var want *xfcc.Want
			if expected.MTLS && expected.XFCC != nil {
				want = &xfcc.Want{By: expected.XFCC.By, URI: expected.XFCC.URI, Waypoint: expected.Waypoint}
			}
			if _, err := xfcc.Verify(obs.XFCC, want); err != nil {
				diffs = append(diffs, err.Error())
			}
		}
	}
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}
