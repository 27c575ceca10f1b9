// Command kubectl is the upstream kubectl, built with the same pins and version stamp as
// kube-apiserver so that `kubectl version` against it reports no skew. The body mirrors
// k8s.io/kubernetes cmd/kubectl/kubectl.go (v1.37.2).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// Import to initialize client auth plugins.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	// Set the verbosity before the command is built, as upstream does, so klog output during
	// command construction (plugins, .kuberc) honours -v.
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// Pretty-print the error and exit with an error.
		util.CheckErr(err)
	}
}
