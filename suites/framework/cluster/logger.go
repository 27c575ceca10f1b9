package cluster

import (
	"fmt"
	"io"
	"sync"

	"sigs.k8s.io/kind/pkg/log"
)

// kindLogger writes kind's user-facing messages (V(0), warnings, errors) as lines to w; kind's
// debug levels are dropped, as the kind CLI does without -v.
type kindLogger struct {
	mu sync.Mutex
	w  io.Writer
}

func newKindLogger(w io.Writer) *kindLogger { return &kindLogger{w: w} }

func (l *kindLogger) line(prefix, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "kind: %s%s\n", prefix, msg)
}

func (l *kindLogger) Warn(message string)               { l.line("WARNING: ", message) }
func (l *kindLogger) Warnf(format string, args ...any)  { l.Warn(fmt.Sprintf(format, args...)) }
func (l *kindLogger) Error(message string)              { l.line("ERROR: ", message) }
func (l *kindLogger) Errorf(format string, args ...any) { l.Error(fmt.Sprintf(format, args...)) }
func (l *kindLogger) V(level log.Level) log.InfoLogger  { return infoLogger{l: l, on: level == 0} }
func (i infoLogger) Info(message string)                { i.printf("%s", message) }
func (i infoLogger) Infof(format string, args ...any)   { i.printf(format, args...) }
func (i infoLogger) Enabled() bool                      { return i.on }
func (i infoLogger) printf(format string, args ...any) {
	if i.on {
		i.l.line("", fmt.Sprintf(format, args...))
	}
}

type infoLogger struct {
	l  *kindLogger
	on bool
}

var _ log.Logger = (*kindLogger)(nil)
