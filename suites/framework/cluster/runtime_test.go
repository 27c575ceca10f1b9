package cluster

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The suite promises one clear line within 5 seconds when no runtime is usable.
const promise = 5 * time.Second

// fakeCLI puts an executable shell script called name on a fresh PATH. The scripts stand in for
// container engines this machine does not have; each behaviour mirrors what the real CLI prints
// (quoted in the test that uses it).
func fakeCLI(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// dockerCLI puts on a fresh PATH a docker whose -v answers as docker 28.2.2's and which runs
// engine for every other command (docker info, the engine check).
func dockerCLI(t *testing.T, engine string) {
	t.Helper()
	dir := t.TempDir()
	fakeCLI(t, dir, "docker", `case "$1" in
-v) echo "Docker version 28.2.2, build e6534b4";;
*) `+engine+`;;
esac
`)
	pathWith(t, dir)
}

// pathWith makes a PATH holding only dir plus the directory of sh (the scripts need a shell).
func pathWith(t *testing.T, dir string) {
	t.Helper()
	t.Setenv("PATH", dir+string(filepath.ListSeparator)+shellOnlyDir(t))
}

// shellOnlyDir returns a directory holding only sh and sleep, so that a real docker or podman
// installed next to sh (e.g. /usr/bin) cannot leak into the test's PATH.
func shellOnlyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range []string{"sh", "sleep"} {
		src, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("no %s", tool)
		}
		if err := os.Symlink(src, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNoRuntimeOnPath(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	start := time.Now()
	_, err := DetectRuntime(context.Background(), "")
	if elapsed := time.Since(start); elapsed > promise {
		t.Errorf("took %s", elapsed)
	}
	if !errors.Is(err, ErrNoRuntime) {
		t.Fatalf("err = %v, want ErrNoRuntime", err)
	}
	want := "no usable container runtime: kind needs Docker or Podman and found none of docker, nerdctl, finch, podman on PATH; install one (or use an existing cluster with CLUSTER=existing)"
	if err.Error() != want {
		t.Errorf("err =\n%s\nwant\n%s", err, want)
	}
}

// TestRealDockerCLIWithoutDaemon uses this machine's docker CLI, which has no engine behind it,
// pointed at a socket that does not exist.
func TestRealDockerCLIWithoutDaemon(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI on this machine; TestDockerDaemonDown covers the same path")
	}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	start := time.Now()
	det, err := DetectRuntime(context.Background(), "")
	if elapsed := time.Since(start); elapsed > promise {
		t.Errorf("took %s", elapsed)
	}
	if err == nil {
		t.Fatalf("detected %+v with DOCKER_HOST at a missing socket", det)
	}
	want := "no usable container runtime: docker is installed but its engine is not running: Cannot connect to the Docker daemon at unix://" + sock + ". Is the docker daemon running?"
	if err.Error() != want {
		t.Errorf("err =\n%s\nwant\n%s", err, want)
	}
}

// TestDockerDaemonDown: docker's CLI answers -v but `docker info` exits 1 with
// "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon
// running?" on stderr (docker 28.2.2 on this machine).
func TestDockerDaemonDown(t *testing.T) {
	dockerCLI(t, `echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1`)
	_, err := DetectRuntime(context.Background(), "")
	want := "no usable container runtime: docker is installed but its engine is not running: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestHungEngine: an engine that never answers is reported within the promise, not waited for.
func TestHungEngine(t *testing.T) {
	dockerCLI(t, `exec sleep 60`)
	start := time.Now()
	_, err := DetectRuntime(context.Background(), "")
	elapsed := time.Since(start)
	if elapsed > promise {
		t.Errorf("took %s, promised under %s", elapsed, promise)
	}
	want := `no usable container runtime: docker is installed but its engine did not answer "docker info" within 4s; start it (for Docker: the docker daemon) and retry`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestProviderEnvNamesMissingRuntime(t *testing.T) {
	dir := t.TempDir()
	fakeCLI(t, dir, "docker", `echo "Docker version 28.2.2, build e6534b4"`)
	pathWith(t, dir)
	_, err := DetectRuntime(context.Background(), "podman")
	want := `no usable container runtime: KIND_EXPERIMENTAL_PROVIDER=podman but "podman" is not on PATH`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

func TestDetectionOrder(t *testing.T) {
	dockerOK := `case "$1" in -v) echo "Docker version 28.2.2, build e6534b4";; info) echo 28.2.2;; esac`
	podmanOK := `case "$1" in -v) echo "podman version 5.4.0";; info) echo 5.4.0;; esac`
	for _, tc := range []struct {
		name     string
		clis     map[string]string
		provider string // KIND_EXPERIMENTAL_PROVIDER
		want     Runtime
		binary   string
		version  string
	}{
		{"docker first, as kind's DetectNodeProvider", map[string]string{"docker": dockerOK, "podman": podmanOK}, "", Docker, "docker", "28.2.2"},
		{"KIND_EXPERIMENTAL_PROVIDER wins", map[string]string{"docker": dockerOK, "podman": podmanOK}, "podman", Podman, "podman", "5.4.0"},
		// kind's docker.IsAvailable wants exactly one line starting "Docker version".
		{"a docker that is not Docker is skipped", map[string]string{"docker": `echo "Emulate Docker CLI using podman"; echo "podman version 5.4.0"`, "podman": podmanOK}, "", Podman, "podman", "5.4.0"},
		{"unknown KIND_EXPERIMENTAL_PROVIDER is ignored, as kind does", map[string]string{"podman": podmanOK}, "lxc", Podman, "podman", "5.4.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, script := range tc.clis {
				fakeCLI(t, dir, name, script)
			}
			pathWith(t, dir)
			det, err := DetectRuntime(context.Background(), tc.provider)
			if err != nil {
				t.Fatal(err)
			}
			if det.Runtime != tc.want || det.Binary != tc.binary || det.Version != tc.version {
				t.Errorf("detected %+v, want %s via %s version %s", det, tc.want, tc.binary, tc.version)
			}
		})
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := DetectRuntime(context.Background(), "")
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %q", err)
	}
}
