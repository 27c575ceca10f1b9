// Command kube-controller-manager is the upstream kube-controller-manager of k8s.io/kubernetes, built from its Go module for the kind node image
// the local cluster tier builds (tools/kindnode). The body mirrors k8s.io/kubernetes cmd/kube-controller-manager/controller-manager.go (v1.37.2).
package main

import (
	"os"
	_ "time/tzdata" // for CronJob Time Zone support

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // load all the prometheus client-go plugin
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	command := app.NewControllerManagerCommand()
	code := cli.Run(command)
	os.Exit(code)
}
