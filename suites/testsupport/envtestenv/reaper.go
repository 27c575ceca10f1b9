package envtestenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// envtest starts kube-apiserver and etcd in process groups of their own and stops them only from
// Stop, so a test binary that panics, times out or is interrupted would leave both running. The
// reaper is a small shell process that outlives the test binary: it blocks reading a pipe whose
// write end only the test binary holds, and when that pipe closes — however the binary ended — it
// stops the control plane and removes its directory. A clean Stop kills the reaper first.
//
// Finding the control plane's process ids reads /proc, so the reaper runs on Linux only (CI and
// `make test`); elsewhere a crashed test binary can leave the processes behind.
type reaper struct {
	cmd  *exec.Cmd
	pipe *os.File // write end; closing it (or this process exiting) triggers the reaper
	pids []string // the control plane processes it stops
}

// reaperScript: $1 and $2 are directories to remove ($2 may be empty), the rest are process ids.
// It waits up to ten seconds for a graceful exit before SIGKILL, as the processes must be gone
// before their data directory can be removed.
const reaperScript = `dir="$1"; extra="$2"; shift 2
read -r _
kill -TERM "$@" 2>/dev/null
for pid in "$@"; do
	i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	kill -KILL "$pid" 2>/dev/null
done
rm -rf "$dir" ${extra:+"$extra"}`

// startReaper starts a reaper for this process's children running one of binaries; it removes
// dir and, unless empty, extraDir.
func startReaper(dir, extraDir string, binaries ...string) (*reaper, error) {
	if runtime.GOOS != "linux" {
		return nil, nil
	}
	pids, err := childrenRunning(binaries)
	if err != nil {
		return nil, err
	}
	if len(pids) != len(binaries) {
		return nil, fmt.Errorf("found %d running control plane processes (%v), want one per binary %v", len(pids), pids, binaries)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", append([]string{"-c", reaperScript, "sh", dir, extraDir}, pids...)...)
	cmd.Stdin = r
	// Its own process group, so that Ctrl-C reaches the test binary (which then dies and closes the
	// pipe) but not the reaper itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("starting the control plane reaper: %w", err)
	}
	return &reaper{cmd: cmd, pipe: w, pids: pids}, nil
}

// cancel stops the reaper without it touching anything. A nil reaper does nothing.
func (r *reaper) cancel() {
	if r == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.pipe.Close()
}

// childrenRunning returns the ids of this process's children whose executable is one of binaries.
func childrenRunning(binaries []string) ([]string, error) {
	want := map[string]bool{}
	for _, b := range binaries {
		// /proc/<pid>/exe holds the absolute path with symlinks resolved.
		resolved, err := filepath.EvalSymlinks(b)
		if err != nil {
			return nil, err
		}
		if resolved, err = filepath.Abs(resolved); err != nil {
			return nil, err
		}
		want[resolved] = true
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var pids []string
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		if parentPID(pid) != self {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", entry.Name(), "exe"))
		if err == nil && want[exe] {
			pids = append(pids, entry.Name())
		}
	}
	return pids, nil
}

// parentPID reads the parent process id from /proc/<pid>/stat, or -1. The command name (field 2)
// is parenthesised and may hold spaces, so fields are counted after its closing parenthesis.
func parentPID(pid int) int {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return -1
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return -1
	}
	return ppid
}
