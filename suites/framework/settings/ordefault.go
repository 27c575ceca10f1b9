package settings

import "time"

// OrDefault sets *v to d when *v is not positive: the engine's options (probe.Options,
// diagnostics.Limits, upgrade.ProberOptions) read a zero value as "the default", and a negative
// one, which no setting accepts (Validate), the same way.
func OrDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}
