package world

import (
	"context"
	"fmt"
	"maps"
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"istio.io/api/label"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	envoywaypoint "github.com/mtls-conformance/mtls-conformance/suites/framework/waypoint"
)

// applyWaypoints deploys a step's waypoints (the Gateway, the namespace's istio.io/use-waypoint)
// and waits until each one's Deployment, which istiod's deployment controller makes from the
// Gateway, has rolled out what the Gateway says; the barrier then waits for its configuration.
// On a cluster that serves no Gateway API, ApplyWaypoint says so in one line.
func (w *World) applyWaypoints(ctx context.Context, waypoints []scenarios.Waypoint) error {
	for _, wp := range waypoints {
		if err := w.Deployer.ApplyWaypoint(ctx, wp); err != nil {
			return err
		}
	}
	for _, wp := range waypoints {
		if err := w.Deployer.WaitWaypointReady(ctx, wp); err != nil {
			return err
		}
	}
	return nil
}

// waypointNamespaces are the namespaces any step of s deploys a waypoint in, sorted.
func waypointNamespaces(s *scenarios.Scenario) []string {
	var out []string
	for _, step := range s.Steps {
		for _, wp := range step.Waypoints {
			if !slices.Contains(out, wp.Namespace) {
				out = append(out, wp.Namespace)
			}
		}
	}
	slices.Sort(out)
	return out
}

// waypointSource is what the ambient barrier reads of a step's waypoints: the cluster's, or a
// test's.
type waypointSource interface {
	// Listeners are the Envoy listeners of the one live pod of namespace's waypoint, and its name.
	Listeners(ctx context.Context, namespace string) (pod string, listeners []*listenerv3.Listener, err error)
}

// waypointProblems names, one line each, every waypoint of st whose Envoy does not yet do with
// XFCC what the step says: write By=<waypoint>;URI=<client> when its Gateway asks for the client
// identity, strip XFCC otherwise (suites/framework/waypoint, checked against Istio's generator by
// tools/istiogen/waypoint). ztunnel only routes through the waypoint; whether the server sees the
// header is the waypoint's configuration, pushed by istiod after the Gateway changes. The pods
// read are added to proxies.
func waypointProblems(ctx context.Context, src waypointSource, topo *fixtures.Topology, st scenarios.State, proxies *[]string) []string {
	var problems []string
	for _, ns := range slices.Sorted(maps.Keys(st.Waypoints)) {
		wp := st.Waypoints[ns]
		pod, listeners, err := src.Listeners(ctx, ns)
		if err != nil {
			problems = append(problems, fmt.Sprintf("waypoint %s/%s: %v", ns, scenarios.WaypointName, err))
			continue
		}
		*proxies = append(*proxies, pod+"."+ns)
		for _, svc := range topo.Services {
			if svc.Namespace != ns || len(svc.Ports) == 0 {
				continue
			}
			var ports []int
			for _, p := range svc.Ports {
				ports = append(ports, p.Port)
			}
			writes, err := envoywaypoint.WritesXFCC(listeners, svc.Ref, ports)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("waypoint pod %s/%s for %s: %v", ns, pod, svc.Ref, err))
			case writes != wp.XFCCClientIdentity:
				problems = append(problems, fmt.Sprintf("waypoint pod %s/%s gives %s XFCC with the client identity: %t, the step expects %t (Gateway annotation %s)", ns, pod, svc.Ref, writes, wp.XFCCClientIdentity, scenarios.XFCCClientIdentityAnnotation))
			}
		}
	}
	return problems
}

// clusterWaypoints reads the waypoints of the cluster the world runs on: the pod istiod's
// deployment controller labels gateway.networking.k8s.io/gateway-name=<Gateway>
// (istio-discovery files/waypoint.yaml), its config dump through its istio-proxy container.
type clusterWaypoints struct{ w *World }

func (c clusterWaypoints) Listeners(ctx context.Context, namespace string) (string, []*listenerv3.Listener, error) {
	kube, err := kubernetes.NewForConfig(c.w.Config)
	if err != nil {
		return "", nil, err
	}
	list, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: label.IoK8sNetworkingGatewayGatewayName.Name + "=" + scenarios.WaypointName})
	if err != nil {
		return "", nil, fmt.Errorf("listing its pods: %w", err)
	}
	var live []int
	for i := range list.Items {
		if mesh.PodLive(&list.Items[i]) {
			live = append(live, i)
		}
	}
	if len(live) != 1 {
		return "", nil, fmt.Errorf("%d live pods, want 1", len(live))
	}
	pod := &list.Items[live[0]]
	f, err := c.w.dumpFetcher()
	if err != nil {
		return "", nil, err
	}
	raw, err := f.ConfigDump(ctx, pod)
	if err != nil {
		return pod.Name, nil, err
	}
	dump, err := authcheck.ParseConfigDump(raw)
	if err != nil {
		return pod.Name, nil, err
	}
	return pod.Name, dump.Listeners, nil
}
