// Command etcd is the upstream etcd server, built from the go.etcd.io/etcd/server/v3 module at the
// version k8s.io/kubernetes v1.37.2 pins (go.mod and hack/lib/etcd.sh: 3.7.0). The body mirrors etcd's
// own main.go (go.etcd.io/etcd/v3 main.go).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
