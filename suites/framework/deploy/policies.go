package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// clockPollInterval is how often the apiserver's clock is read while waiting for the next
// second; creationTimestamp has one-second resolution (metav1.Time serialises RFC 3339 seconds).
const clockPollInterval = 100 * time.Millisecond

// ApplyObjects creates a scenario step's Istio objects in the order given, through istio
// client-go's typed clients. Istio resolves conflicts between policies by age ("oldest wins":
// istio/istio pilot/pkg/model/authentication.go sorts by creationTimestamp, then name), so each
// creation waits until the apiserver's clock has passed the previous one's creationTimestamp:
// the objects get distinct timestamps in catalog order. An object that already exists (applied
// by an earlier step) is updated in place and keeps its age, as `kubectl apply` would.
func (d *Deployer) ApplyObjects(ctx context.Context, objs []policy.Object) error {
	for _, o := range objs {
		if err := d.applyObject(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

func (d *Deployer) applyObject(ctx context.Context, o policy.Object) error {
	m := o.Meta()
	if _, err := d.kube.CoreV1().Namespaces().Get(ctx, m.Namespace, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("deploy: %s: namespace: %w", o.Key(), err)
	}
	if err := d.waitForNextSecond(ctx, m.Namespace); err != nil {
		return fmt.Errorf("deploy: %s: %w", o.Key(), err)
	}
	var created metav1.Time
	var err error
	switch {
	case o.PeerAuthentication != nil:
		obj := o.PeerAuthentication.DeepCopy()
		obj.Labels = addLabels(obj.Labels, d.labels())
		created, err = applyManaged(ctx, d.istio.SecurityV1().PeerAuthentications(obj.Namespace), obj)
	case o.DestinationRule != nil:
		obj := o.DestinationRule.DeepCopy()
		obj.Labels = addLabels(obj.Labels, d.labels())
		created, err = applyManaged(ctx, d.istio.NetworkingV1().DestinationRules(obj.Namespace), obj)
	default:
		return fmt.Errorf("deploy: empty policy object")
	}
	if err != nil {
		return fmt.Errorf("deploy: applying %s: %w", o.Key(), err)
	}
	if created.After(d.lastCreated) {
		d.lastCreated = created.Time
	}
	d.logf("applied %s (created %s)", o.Key(), created.UTC().Format(time.RFC3339))
	return nil
}

// typedClient is what applyManaged needs of an istio client-go typed client.
type typedClient[T metav1.Object] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}

// applyManaged creates obj, or, when an object of that name exists and the suite manages it,
// updates it in place (it keeps its creationTimestamp, its age). An object the suite does not
// manage is left alone. It returns the object's creationTimestamp.
func applyManaged[T metav1.Object](ctx context.Context, client typedClient[T], obj T) (metav1.Time, error) {
	got, err := client.Create(ctx, obj, metav1.CreateOptions{FieldManager: mesh.FieldManager})
	if apierrors.IsAlreadyExists(err) {
		var existing T
		if existing, err = client.Get(ctx, obj.GetName(), metav1.GetOptions{}); err != nil {
			return metav1.Time{}, err
		}
		if existing.GetLabels()[mesh.ManagedByLabel] != mesh.ManagedByValue {
			return metav1.Time{}, errors.New("it exists and is not managed by mtls-conformance; not changing it")
		}
		obj.SetResourceVersion(existing.GetResourceVersion())
		got, err = client.Update(ctx, obj, metav1.UpdateOptions{FieldManager: mesh.FieldManager})
	}
	if err != nil {
		return metav1.Time{}, err
	}
	return got.GetCreationTimestamp(), nil
}

// waitForNextSecond returns once an object created now would get a creationTimestamp later than
// the newest object this Deployer created. It reads the apiserver's own clock (the one that
// stamps creationTimestamp) with a dry-run create, which the apiserver stamps but never stores.
func (d *Deployer) waitForNextSecond(ctx context.Context, namespace string) error {
	if d.lastCreated.IsZero() {
		return nil
	}
	var last time.Time
	err := wait.PollUntilContextTimeout(ctx, clockPollInterval, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		now, err := d.serverNow(ctx, namespace)
		if err != nil {
			return false, err
		}
		last = now
		return now.After(d.lastCreated), nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the apiserver clock to pass %s (last read %s): %w", d.lastCreated.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// serverNow is the apiserver's current time at one-second resolution.
func (d *Deployer) serverNow(ctx context.Context, namespace string) (time.Time, error) {
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "mtls-conformance-clock-", Labels: d.labels()}}
	got, err := d.kube.CoreV1().ConfigMaps(namespace).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the apiserver clock (dry-run ConfigMap create): %w", err)
	}
	return got.CreationTimestamp.Time, nil
}

// DeleteObjects deletes the objects named by keys ("Kind namespace/name", as scenario steps list
// them) and waits until they are gone. Only objects the suite manages are deleted; a missing
// one is already gone.
func (d *Deployer) DeleteObjects(ctx context.Context, keys []string) error {
	type target struct {
		key, kind, ns, name string
	}
	var targets []target
	for _, key := range keys {
		kind, nsName, _ := strings.Cut(key, " ")
		ns, name, _ := strings.Cut(nsName, "/")
		if ns == "" || name == "" || strings.ContainsAny(name, " /") || (kind != policy.KindPeerAuthentication && kind != policy.KindDestinationRule) {
			return fmt.Errorf("deploy: object key %q is not \"PeerAuthentication|DestinationRule namespace/name\"", key)
		}
		targets = append(targets, target{key, kind, ns, name})
	}
	for _, t := range targets {
		labels, err := d.policyLabels(ctx, t.kind, t.ns, t.name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("deploy: %s: %w", t.key, err)
		}
		if labels[mesh.ManagedByLabel] != mesh.ManagedByValue {
			return fmt.Errorf("deploy: %s is not managed by mtls-conformance; not deleting it", t.key)
		}
		if err := d.deletePolicy(ctx, t.kind, t.ns, t.name); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deploy: deleting %s: %w", t.key, err)
		}
	}
	remaining := keys
	err := wait.PollUntilContextTimeout(ctx, d.PollInterval, d.DeleteTimeout, true, func(ctx context.Context) (bool, error) {
		remaining = nil
		for _, t := range targets {
			_, err := d.policyLabels(ctx, t.kind, t.ns, t.name)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return false, err
			default:
				remaining = append(remaining, t.key)
			}
		}
		return len(remaining) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("deploy: still present after %s: %v: %w", d.DeleteTimeout, remaining, err)
	}
	for _, t := range targets {
		d.logf("deleted %s", t.key)
	}
	return nil
}

func (d *Deployer) policyLabels(ctx context.Context, kind, ns, name string) (map[string]string, error) {
	if kind == policy.KindPeerAuthentication {
		o, err := d.istio.SecurityV1().PeerAuthentications(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return o.Labels, nil
	}
	o, err := d.istio.NetworkingV1().DestinationRules(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return o.Labels, nil
}

func (d *Deployer) deletePolicy(ctx context.Context, kind, ns, name string) error {
	if kind == policy.KindPeerAuthentication {
		return d.istio.SecurityV1().PeerAuthentications(ns).Delete(ctx, name, metav1.DeleteOptions{})
	}
	return d.istio.NetworkingV1().DestinationRules(ns).Delete(ctx, name, metav1.DeleteOptions{})
}
