// Package component is the main of the Kubernetes components built here (kube-apiserver,
// kube-controller-manager, kube-scheduler, kube-proxy, kubelet): each upstream main in
// k8s.io/kubernetes cmd/ (v1.37.2) makes the same three registrations by blank import and exits
// with cli.Run's code for its cobra command, so that body is kept once, here.
package component

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // for JSON log format registration
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // load all the prometheus client-go plugins
	_ "k8s.io/component-base/metrics/prometheus/version"  // for version metric registration
)

// Main runs the component's command and exits with its code.
func Main(command *cobra.Command) {
	os.Exit(cli.Run(command))
}
