package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/settings"
)

// Runtime is the container engine kind runs its node containers in.
type Runtime string

const (
	Docker  Runtime = "docker"
	Podman  Runtime = "podman"
	Nerdctl Runtime = "nerdctl"
)

// RuntimeCheckTimeout bounds the daemon check so that a missing or hung engine is reported
// within the 5 seconds the suite promises, before anything is created.
const RuntimeCheckTimeout = 4 * time.Second

// ErrNoRuntime is returned (wrapped) when no container runtime is usable.
var ErrNoRuntime = errors.New("no usable container runtime")

// DetectedRuntime is the runtime kind will use and the binary that drives it.
type DetectedRuntime struct {
	Runtime Runtime
	// Binary is the command name: docker, podman, nerdctl, or finch / nerdctl.lima (nerdctl
	// variants kind accepts through KIND_EXPERIMENTAL_PROVIDER).
	Binary string
	// Version is the engine's answer to the daemon check (for the report).
	Version string
}

// ProviderOption is the kind provider option for this runtime.
func (d DetectedRuntime) ProviderOption() kindcluster.ProviderOption {
	switch d.Runtime {
	case Podman:
		return kindcluster.ProviderWithPodman()
	case Nerdctl:
		return kindcluster.ProviderWithNerdctl(d.Binary)
	default:
		return kindcluster.ProviderWithDocker()
	}
}

// DetectRuntime picks the runtime the way the kind CLI does, then checks that its engine answers.
// provider is KIND_EXPERIMENTAL_PROVIDER, resolved by package settings (Settings.KindProvider).
//
// kind's choice: KIND_EXPERIMENTAL_PROVIDER=docker|podman|nerdctl|finch|nerdctl.lima wins
// (pkg/internal/runtime/runtime.go; other values are ignored); otherwise the first of docker,
// nerdctl, podman whose "<cli> -v" answers like that tool (pkg/cluster/provider.go
// DetectNodeProvider and each provider's IsAvailable). kind itself stops there, so a docker CLI
// without a running daemon would fail deep inside cluster creation; the extra "<cli> info" check
// turns that into one line within RuntimeCheckTimeout.
func DetectRuntime(ctx context.Context, provider string) (DetectedRuntime, error) {
	var det DetectedRuntime
	switch p := provider; p {
	case "docker":
		det = DetectedRuntime{Runtime: Docker, Binary: "docker"}
	case "podman":
		det = DetectedRuntime{Runtime: Podman, Binary: "podman"}
	case "nerdctl", "finch", "nerdctl.lima":
		det = DetectedRuntime{Runtime: Nerdctl, Binary: p}
	default:
		found := false
		// nerdctl's IsAvailable also accepts finch (providers/nerdctl/util.go).
		for _, cand := range []DetectedRuntime{{Docker, "docker", ""}, {Nerdctl, "nerdctl", ""}, {Nerdctl, "finch", ""}, {Podman, "podman", ""}} {
			if cliAnswers(ctx, cand) {
				det, found = cand, true
				break
			}
		}
		if !found {
			return DetectedRuntime{}, fmt.Errorf("%w: kind needs Docker or Podman and found none of docker, nerdctl, finch, podman on PATH; install one (or use an existing cluster with CLUSTER=existing)", ErrNoRuntime)
		}
	}
	if _, err := exec.LookPath(det.Binary); err != nil {
		return DetectedRuntime{}, fmt.Errorf("%w: %s=%s but %q is not on PATH", ErrNoRuntime, settings.KindProviderEnv, provider, det.Binary)
	}
	version, err := engineAnswers(ctx, det)
	if err != nil {
		return DetectedRuntime{}, err
	}
	det.Version = version
	return det, nil
}

// cliAnswers mirrors kind's IsAvailable checks: "docker -v" prints "Docker version ...",
// "podman -v" prints "podman version ...", nerdctl and finch print "nerdctl version ..." and
// "finch version ...".
func cliAnswers(ctx context.Context, cand DetectedRuntime) bool {
	if _, err := exec.LookPath(cand.Binary); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, RuntimeCheckTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, cand.Binary, "-v").Output()
	if err != nil {
		return false
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	prefix := map[string]string{"docker": "Docker version", "podman": "podman version", "nerdctl": "nerdctl version", "finch": "finch version"}[cand.Binary]
	return len(lines) == 1 && strings.HasPrefix(lines[0], prefix)
}

// engineAnswers asks the engine itself (not just the CLI) to answer.
func engineAnswers(ctx context.Context, det DetectedRuntime) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, RuntimeCheckTimeout)
	defer cancel()
	args := []string{"info", "--format", "{{.ServerVersion}}"}
	if det.Runtime == Podman {
		args = []string{"info", "--format", "{{.Version.Version}}"}
	}
	cmd := exec.CommandContext(ctx, det.Binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A hung engine CLI may leave children holding the pipes; do not wait for them.
	cmd.WaitDelay = 500 * time.Millisecond
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return "", fmt.Errorf("%w: %s is installed but its engine did not answer \"%s info\" within %s; start it (for Docker: the docker daemon) and retry", ErrNoRuntime, det.Binary, det.Binary, RuntimeCheckTimeout)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s is installed but its engine is not running: %s", ErrNoRuntime, det.Binary, lastLine(stderr.String(), err))
	}
	return strings.TrimSpace(stdout.String()), nil
}

func lastLine(s string, fallback error) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return fallback.Error()
}
