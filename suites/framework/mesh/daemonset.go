package mesh

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// DaemonSetPending says why ds (ztunnel, the istio-cni node agent) is not ready on every node it
// should run on; "" means it is. It decides as `kubectl rollout status daemonset` does
// (k8s.io/kubectl pkg/polymorphichelpers/rollout_status.go, DaemonSetStatusViewer.Status): the
// current generation observed, a pod of the current template scheduled on every node that should
// run one, each of them available. One rule more: a DaemonSet no node should run counts as not
// ready, since the ambient data plane carries nothing then (kubectl calls 0 of 0 rolled out, and so
// does e2e-framework's conditions.DaemonSetReady, which also takes the empty status of a DaemonSet
// its controller has not seen yet for ready).
func DaemonSetPending(ds *appsv1.DaemonSet) string {
	s := ds.Status
	switch {
	case ds.Generation > s.ObservedGeneration:
		return fmt.Sprintf("generation %d not yet observed", ds.Generation)
	case s.DesiredNumberScheduled == 0:
		return "no node runs it (0 pods scheduled)"
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		return fmt.Sprintf("%d out of %d new pods have been updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)
	case s.NumberAvailable < s.DesiredNumberScheduled:
		return fmt.Sprintf("%d of %d updated pods are available", s.NumberAvailable, s.DesiredNumberScheduled)
	}
	return ""
}
