package harness

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"

	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/test"
)

// Run calls fn with a test.Failer, for use outside `go test` (Istio's fake discovery server
// takes one). A Fatal inside fn ends fn and becomes Run's error; cleanups registered with the
// failer run, newest first, when fn returns either way.
func Run(fn func(t test.Failer) error) (err error) {
	f := &failer{}
	defer func() {
		f.runCleanups()
		if r := recover(); r != nil {
			fe, ok := r.(fatal)
			if !ok {
				panic(r)
			}
			err = errors.New(string(fe))
		}
		if err == nil && f.failed() {
			err = errors.New("harness: failed")
		}
	}()
	return fn(f)
}

// fatal is the panic value that carries a Fatal message out of fn.
type fatal string

type failer struct {
	mu       sync.Mutex
	cleanups []func()
	failedAt bool
}

var _ test.Failer = (*failer)(nil)

func (f *failer) Fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failedAt = true
}

func (f *failer) failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failedAt
}

func (f *failer) FailNow()                       { f.Fail(); panic(fatal("harness: failed")) }
func (f *failer) Fatal(args ...any)              { f.Fail(); panic(fatal(fmt.Sprint(args...))) }
func (f *failer) Fatalf(format string, a ...any) { f.Fail(); panic(fatal(fmt.Sprintf(format, a...))) }
func (f *failer) Skip(args ...any)               { panic(fatal("harness: skipped: " + fmt.Sprint(args...))) }
func (f *failer) Log(...any)                     {}
func (f *failer) Logf(string, ...any)            {}
func (f *failer) Helper()                        {}

func (f *failer) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *failer) TempDir() string {
	dir, err := os.MkdirTemp("", "istiogen-")
	if err != nil {
		f.Fatalf("harness: temp dir: %v", err)
	}
	f.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (f *failer) runCleanups() {
	f.mu.Lock()
	fns := slices.Clone(f.cleanups)
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// Quiet stops Istio's logging (which writes to stdout by default, pkg/log/options.go) so that a
// command's stdout holds only its own output; what little is left goes to stderr.
func Quiet() error {
	opts := log.DefaultOptions()
	opts.OutputPaths = []string{"stderr"}
	opts.ErrorOutputPaths = []string{"stderr"}
	if err := log.Configure(opts); err != nil {
		return err
	}
	for _, s := range log.Scopes() {
		s.SetOutputLevel(log.NoneLevel)
	}
	return nil
}
