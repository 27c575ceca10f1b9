package envtestenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// These cases run without the binaries: they pin when the tier skips, fails or runs.
func TestBinaryDir(t *testing.T) {
	const howTo = "run `make test`, or export KUBEBUILDER_ASSETS=$(tools/kubebin/build.sh)"

	t.Run("unset and optional skips", func(t *testing.T) {
		t.Setenv(EnvAssets, "")
		t.Setenv(EnvRequire, "")
		dir, skip, err := binaryDir()
		if err != nil || dir != "" {
			t.Fatalf("binaryDir() = %q, %v; want a skip", dir, err)
		}
		if want := "real kube-apiserver tier off: KUBEBUILDER_ASSETS is not set (" + howTo + ")"; skip != want {
			t.Errorf("skip reason = %q, want %q", skip, want)
		}
	})

	t.Run("unset and required fails", func(t *testing.T) {
		t.Setenv(EnvAssets, "")
		t.Setenv(EnvRequire, "1")
		_, skip, err := binaryDir()
		if skip != "" || err == nil {
			t.Fatalf("binaryDir() skip %q, err %v; want an error", skip, err)
		}
		if want := "MTLS_REQUIRE_ENVTEST=1 but KUBEBUILDER_ASSETS is not set: " + howTo; err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
	})

	t.Run("named directory without binaries fails even when optional", func(t *testing.T) {
		empty := t.TempDir()
		t.Setenv(EnvAssets, empty)
		t.Setenv(EnvRequire, "")
		_, _, err := binaryDir()
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("error = %v, want one wrapping fs.ErrNotExist", err)
		}
		if want := "KUBEBUILDER_ASSETS=" + empty + ": stat " + filepath.Join(empty, "kube-apiserver"); !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error = %q, want prefix %q", err, want)
		}
	})

	t.Run("non-executable binary fails", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "kube-apiserver"), 0o755)
		writeFile(t, filepath.Join(dir, "etcd"), 0o644)
		t.Setenv(EnvAssets, dir)
		_, _, err := binaryDir()
		if want := "KUBEBUILDER_ASSETS=" + dir + ": etcd is not an executable file (" + howTo + ")"; err == nil || err.Error() != want {
			t.Errorf("error = %v, want %q", err, want)
		}
	})

	t.Run("all binaries present runs", func(t *testing.T) {
		dir := t.TempDir()
		for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
			writeFile(t, filepath.Join(dir, name), 0o755)
		}
		t.Setenv(EnvAssets, dir)
		t.Setenv(EnvRequire, "1")
		got, skip, err := binaryDir()
		if got != dir || skip != "" || err != nil {
			t.Errorf("binaryDir() = %q, %q, %v; want %q", got, skip, err, dir)
		}
	})
}

func writeFile(t *testing.T, path string, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), perm); err != nil {
		t.Fatal(err)
	}
}

func TestIstioCRDPath(t *testing.T) {
	path, err := IstioCRDPath()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.FromSlash("/kubernetes/customresourcedefinitions.gen.yaml"); !strings.HasSuffix(path, want) {
		t.Errorf("IstioCRDPath() = %q, want a path ending in %q", path, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\n  name: peerauthentications.security.istio.io\n") {
		t.Errorf("%s does not define peerauthentications.security.istio.io", path)
	}
}

func TestTailBufferKeepsLastBytes(t *testing.T) {
	var b tailBuffer
	head := strings.Repeat("a", tailBytes)
	if _, err := b.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("end")); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if want := strings.Repeat("a", tailBytes-3) + "end"; got != want {
		t.Errorf("tail buffer holds %d bytes ending %q, want the last %d bytes ending \"end\"", len(got), got[max(0, len(got)-8):], tailBytes)
	}
}

// crashHelperEnv makes TestCrashHelper, run in a child test binary, crash with the control plane up.
const crashHelperEnv = "ENVTESTENV_CRASH_HELPER"

func TestCrashHelper(t *testing.T) {
	if os.Getenv(crashHelperEnv) != "1" {
		t.Skip("runs only as the child of TestCrashLeavesNothingBehind")
	}
	env := Shared(t)
	fmt.Printf("crash-helper tempdir=%s certdir=%s pids=%s\n", env.tempDir, env.webhookCertDir, strings.Join(env.reaper.pids, ","))
	panic("simulated crash with kube-apiserver and etcd running")
}

// A test binary that dies without Stop (panic, -timeout, Ctrl-C, SIGKILL) must not leave
// kube-apiserver, etcd or their data behind.
func TestCrashLeavesNothingBehind(t *testing.T) {
	if os.Getenv(crashHelperEnv) == "1" {
		t.Skip("this is the crash helper's own binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the reaper needs /proc")
	}
	Shared(t) // the tier must be on: the child starts its own control plane

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	child.Env = append(os.Environ(), crashHelperEnv+"=1")
	out, err := child.CombinedOutput()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 2 || !strings.Contains(string(out), "panic: simulated crash") {
		t.Fatalf("child: err %v, want exit status 2 from the simulated panic; output:\n%s", err, out)
	}
	var tempDir, certDir, pidList string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "crash-helper "); ok {
			if _, err := fmt.Sscanf(rest, "tempdir=%s certdir=%s pids=%s", &tempDir, &certDir, &pidList); err != nil {
				t.Fatalf("parsing %q: %v", line, err)
			}
		}
	}
	pids := strings.Split(pidList, ",")
	if tempDir == "" || certDir == "" || len(pids) != 2 {
		t.Fatalf("child reported tempdir %q, certdir %q and pids %q, want two directories and two processes; output:\n%s", tempDir, certDir, pidList, out)
	}

	var left []string
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		left = nil
		for _, pid := range pids {
			if processAlive(t, pid) {
				left = append(left, "process "+pid)
			}
		}
		for _, dir := range []string{tempDir, certDir} {
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				left = append(left, "directory "+dir)
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		t.Fatalf("after the child crashed, still present: %v", left)
	}
}

// processAlive reports whether pid exists and is not a zombie (an exited process whose entry
// only waits for the orphan's new parent to reap it).
func processAlive(t *testing.T, pid string) bool {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}
