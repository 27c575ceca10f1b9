// Command kubeadm is the upstream kubeadm of k8s.io/kubernetes, built from its Go module for the kind node image
// the local cluster tier builds (tools/kindnode). The body mirrors k8s.io/kubernetes cmd/kubeadm/kubeadm.go (v1.37.2).
package main

import (
	"k8s.io/kubernetes/cmd/kubeadm/app"
	utilerrors "k8s.io/kubernetes/cmd/kubeadm/app/util/errors"
)

func main() {
	utilerrors.HandleError(app.Run())
}
