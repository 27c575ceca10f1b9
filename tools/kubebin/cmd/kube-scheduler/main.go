// Command kube-scheduler is the upstream kube-scheduler of k8s.io/kubernetes, built from its Go module for the kind node image
// the local cluster tier builds (tools/kindnode). The body mirrors k8s.io/kubernetes cmd/kube-scheduler/scheduler.go (v1.37.2).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register" // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version" // for version metric registration
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	command := app.NewSchedulerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
