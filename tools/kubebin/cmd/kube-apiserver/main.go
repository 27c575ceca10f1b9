// Command kube-apiserver is the upstream kube-apiserver of k8s.io/kubernetes, built from its Go module
// so `make test` needs no downloaded binaries. The body mirrors k8s.io/kubernetes
// cmd/kube-apiserver/apiserver.go (v1.37.2), including its registration side-effect imports.
package main

import (
	"os"
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // load all the prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
