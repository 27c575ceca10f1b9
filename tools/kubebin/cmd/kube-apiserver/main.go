// Command kube-apiserver is the upstream kube-apiserver of k8s.io/kubernetes, built from its Go module
// so `make test` needs no downloaded binaries. The body mirrors k8s.io/kubernetes
// cmd/kube-apiserver/apiserver.go (v1.37.2); internal/component holds what every component's main
// shares (the registration side-effect imports, the exit).
package main

import (
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/kubernetes/cmd/kube-apiserver/app"

	"github.com/mtls-conformance/mtls-conformance/tools/kubebin/internal/component"
)

func main() {
	component.Main(app.NewAPIServerCommand())
}
