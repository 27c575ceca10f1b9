package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
)

// Executor runs a command in a client workload.
//
// A non-zero exit code is a result, not an error: curl's exit code is what a probe observes. An
// error means the command could not be run at all (pod missing, container not ready, API server
// error, binary missing), which is an infrastructure problem and never a verdict on mTLS.
type Executor interface {
	Exec(ctx context.Context, client fixtures.Workload, argv []string) (ExecResult, error)
}

// ExecResult is what a command printed and how it exited.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// LocalExecutor runs the command as a process on this machine, ignoring the client: for tests
// and for debugging a probe by hand.
type LocalExecutor struct{}

// Exec runs argv[0] (looked up in PATH) with the remaining arguments.
func (LocalExecutor) Exec(ctx context.Context, _ fixtures.Workload, argv []string) (ExecResult, error) {
	if len(argv) == 0 {
		return ExecResult{}, errors.New("empty command")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		// Killed because the caller gave up: the exit status is the kill's, not curl's.
		return res, fmt.Errorf("%s: %w", argv[0], ctx.Err())
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		res.ExitCode = exitErr.ExitCode()
		return res, nil
	}
	// Not started, or killed by a signal: there is no exit code to report.
	return res, fmt.Errorf("%s: %w", argv[0], err)
}
