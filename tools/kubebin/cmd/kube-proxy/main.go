// Command kube-proxy is the upstream kube-proxy of k8s.io/kubernetes, built from its Go module for the kind node image
// the local cluster tier builds (tools/kindnode). The body mirrors k8s.io/kubernetes cmd/kube-proxy/proxy.go (v1.37.2).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // for client metric registration
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() {
	command := app.NewProxyCommand()
	code := cli.Run(command)
	os.Exit(code)
}
