// Command kubelet is the upstream kubelet of k8s.io/kubernetes, built from its Go module for the kind node image
// the local cluster tier builds (tools/kindnode). The body mirrors k8s.io/kubernetes cmd/kubelet/kubelet.go (v1.37.2);
// internal/component holds what every component's main shares (the registration side-effect imports, the exit).
package main

import (
	"context"

	"k8s.io/kubernetes/cmd/kubelet/app"

	"github.com/mtls-conformance/mtls-conformance/tools/kubebin/internal/component"
)

func main() {
	component.Main(app.NewKubeletCommand(context.Background()))
}
