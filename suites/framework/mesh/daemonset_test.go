package mesh

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

func TestDaemonSetPending(t *testing.T) {
	ds := func(gen, observed int64, desired, updated, available int32) *appsv1.DaemonSet {
		d := &appsv1.DaemonSet{}
		d.Generation = gen
		d.Status = appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberAvailable: available}
		return d
	}
	for _, c := range []struct {
		ds   *appsv1.DaemonSet
		want string
	}{
		{ds(1, 1, 3, 3, 3), ""},
		{ds(2, 1, 3, 3, 3), "generation 2 not yet observed"},
		{ds(1, 0, 0, 0, 0), "generation 1 not yet observed"},
		{ds(1, 1, 0, 0, 0), "no node runs it (0 pods scheduled)"},
		{ds(1, 1, 3, 2, 3), "2 out of 3 new pods have been updated"},
		{ds(1, 1, 3, 3, 1), "1 of 3 updated pods are available"},
	} {
		if got := DaemonSetPending(c.ds); got != c.want {
			t.Errorf("%+v: %q, want %q", c.ds.Status, got, c.want)
		}
	}
}
