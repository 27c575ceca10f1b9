package mesh

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Each readiness check reads its object's own condition (the first of that type) and wants True;
// no condition, or only others, is not ready.
func TestReadyConditions(t *testing.T) {
	for _, c := range []struct {
		status []corev1.ConditionStatus // of the Ready/Available condition; nil: none
		other  bool                     // another condition True first
		want   bool
	}{
		{nil, false, false},
		{nil, true, false},
		{[]corev1.ConditionStatus{corev1.ConditionTrue}, true, true},
		{[]corev1.ConditionStatus{corev1.ConditionFalse}, true, false},
		{[]corev1.ConditionStatus{corev1.ConditionUnknown}, false, false},
		{[]corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue}, false, false},
	} {
		var pod corev1.Pod
		var node corev1.Node
		var dep appsv1.Deployment
		if c.other {
			pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue})
			dep.Status.Conditions = append(dep.Status.Conditions, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue})
		}
		for _, st := range c.status {
			pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: st})
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: st})
			dep.Status.Conditions = append(dep.Status.Conditions, appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: st})
		}
		if PodReady(&pod) != c.want || NodeReady(&node) != c.want || DeploymentAvailable(&dep) != c.want {
			t.Errorf("%v (another condition first: %v): pod %v node %v deployment %v, want %v", c.status, c.other, PodReady(&pod), NodeReady(&node), DeploymentAvailable(&dep), c.want)
		}
	}
}

// A live pod runs and is not being deleted.
func TestPodLive(t *testing.T) {
	deleting := metav1.Now()
	for _, c := range []struct {
		phase    corev1.PodPhase
		deleting bool
		want     bool
	}{
		{corev1.PodRunning, false, true},
		{corev1.PodRunning, true, false},
		{corev1.PodPending, false, false},
		{corev1.PodSucceeded, false, false},
		{corev1.PodFailed, false, false},
	} {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: c.phase}}
		if c.deleting {
			p.DeletionTimestamp = &deleting
		}
		if got := PodLive(p); got != c.want {
			t.Errorf("PodLive(%s, deleting %t) = %t, want %t", c.phase, c.deleting, got, c.want)
		}
	}
}
