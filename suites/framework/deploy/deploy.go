// Package deploy puts the fixtures and a scenario's Istio objects into a cluster and takes them
// out again: server-side apply of the embedded manifests, readiness (rollout, pod readiness,
// sidecars exactly where injection is on), restarts, Istio objects created in catalog order with
// distinct creation timestamps, and a cleanup that removes only what the suite labelled.
package deploy

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/mtls-conformance/mtls-conformance/fixtures"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/mtls-conformance/mtls-conformance/suites/framework/kubeclient"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
)

// Deployer applies and removes the suite's objects in one cluster.
type Deployer struct {
	cfg   *rest.Config
	kube  kubernetes.Interface
	dyn   dynamic.Interface
	istio istioclient.Interface
	// gateways is the Gateway API's typed client (waypoints).
	gateways gatewayclient.Interface
	mapper   meta.RESTMapper
	runID    string

	// PollInterval is how often readiness and deletion are re-checked.
	PollInterval time.Duration
	// ReadyTimeout bounds WaitReady, Restart and WaitWaypointReady.
	ReadyTimeout time.Duration
	// DeleteTimeout bounds DeleteObjects, Cleanup and RemoveWaypoint.
	DeleteTimeout time.Duration
	// Out receives one line per step (e.g. GinkgoWriter).
	Out io.Writer
	// Fixtures is how this run's fixtures differ from the manifests (images, injection).
	Fixtures fixtures.Variant

	// lastCreated is the creation time of the newest Istio object this Deployer created.
	lastCreated time.Time
}

// Label values are at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric
// (k8s.io/apimachinery/pkg/util/validation IsValidLabelValue).
var runIDRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)

// New returns a Deployer for the cluster behind cfg; runID labels what this run creates.
func New(cfg *rest.Config, runID string) (*Deployer, error) {
	if !runIDRE.MatchString(runID) {
		return nil, fmt.Errorf("deploy: run id %q is not a valid label value", runID)
	}
	// Readiness and cleanup poll many objects a second.
	cfg = kubeclient.Config(cfg)
	// Listing v1 Endpoints (whose controller copies a Service's labels) draws a deprecation
	// warning on every call since Kubernetes 1.33; it says nothing about the suite's objects.
	quiet := rest.CopyConfig(cfg)
	quiet.WarningHandler = rest.NoWarnings{}
	// Each client fails only on a config it cannot use; one error names them all.
	kube, kubeErr := kubernetes.NewForConfig(cfg)
	dyn, dynErr := dynamic.NewForConfig(quiet)
	ic, istioErr := istioclient.NewForConfig(cfg)
	gw, gatewayErr := gatewayclient.NewForConfig(cfg)
	if err := errors.Join(kubeErr, dynErr, istioErr, gatewayErr); err != nil {
		return nil, fmt.Errorf("deploy: clients: %w", err)
	}
	return &Deployer{
		cfg:           cfg,
		kube:          kube,
		dyn:           dyn,
		istio:         ic,
		gateways:      gw,
		mapper:        restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(kube.Discovery())),
		runID:         runID,
		PollInterval:  time.Second,
		ReadyTimeout:  5 * time.Minute,
		DeleteTimeout: 2 * time.Minute,
		Out:           io.Discard,
	}, nil
}

// RunID is the run id this Deployer labels objects with.
func (d *Deployer) RunID() string { return d.runID }

// labels are the labels every created object carries.
func (d *Deployer) labels() map[string]string {
	return map[string]string{mesh.ManagedByLabel: mesh.ManagedByValue, mesh.RunIDLabel: d.runID}
}

func addLabels(dst map[string]string, add map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range add {
		dst[k] = v
	}
	return dst
}

func (d *Deployer) logf(format string, args ...any) {
	fmt.Fprintf(d.Out, format+"\n", args...)
}
