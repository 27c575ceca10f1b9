// Command pause is the pod sandbox's process: it sleeps until SIGINT or SIGTERM and, as PID 1 of
// the pod, reaps the zombies of processes that share its PID namespace. It does what Kubernetes'
// build/pause/linux/pause.c does, in Go, so the pause image builds from the module proxy alone.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() != 1 {
		os.Stderr.WriteString("Warning: pause should be the first process\n")
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
