package settings

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Requests are the CPU and memory requests of istiod and of each sidecar it injects, as
// Kubernetes quantities (canonical form). The setting reads and prints them as
// istiod=<cpu>/<memory>,proxy=<cpu>/<memory>; a component left out keeps its value.
type Requests struct {
	IstiodCPU, IstiodMemory string
	ProxyCPU, ProxyMemory   string
}

// DefaultRequests are Istio's demo profile's (istio-discovery files/profile-demo.yaml:
// pilot.resources.requests 10m/100Mi, global.proxy.resources.requests 10m/40Mi). The chart's own
// (values.yaml: istiod 500m/2048Mi, each proxy 100m/128Mi) leave the surge or canary istiod of an
// upgrade Pending on a 2-vCPU machine, and istiod alone does not fit a 2 GiB one.
func DefaultRequests() Requests {
	return Requests{IstiodCPU: "10m", IstiodMemory: "100Mi", ProxyCPU: "10m", ProxyMemory: "40Mi"}
}

// proxyLimits are the chart's sidecar limits (istio-discovery values.yaml
// global.proxy.resources.limits), which the suite keeps: a request above them makes the apiserver
// reject every injected pod.
var proxyLimits = map[string]string{"cpu": "2000m", "memory": "1024Mi"}

func (r *Requests) String() string {
	return "istiod=" + r.IstiodCPU + "/" + r.IstiodMemory + ",proxy=" + r.ProxyCPU + "/" + r.ProxyMemory
}

// Set reads istiod=<cpu>/<memory>,proxy=<cpu>/<memory> (either part alone); on error r is
// unchanged.
func (r *Requests) Set(value string) error {
	const form = "want component=cpu/memory, e.g. istiod=500m/2Gi,proxy=100m/128Mi"
	next := *r
	seen := map[string]bool{}
	if strings.TrimSpace(value) == "" {
		return fmt.Errorf("%s", form)
	}
	for _, part := range strings.Split(value, ",") {
		component, quantities, ok := strings.Cut(part, "=")
		cpu, memory, ok2 := strings.Cut(quantities, "/")
		if !ok || !ok2 {
			return fmt.Errorf("%q: %s", part, form)
		}
		component = strings.TrimSpace(component)
		var cpuField, memoryField *string
		switch component {
		case "istiod":
			cpuField, memoryField = &next.IstiodCPU, &next.IstiodMemory
		case "proxy":
			cpuField, memoryField = &next.ProxyCPU, &next.ProxyMemory
		default:
			return fmt.Errorf("%q: component %q is neither istiod nor proxy", part, component)
		}
		if seen[component] {
			return fmt.Errorf("%s given twice", component)
		}
		seen[component] = true
		for _, q := range []struct {
			resource, value string
			field           *string
		}{{"cpu", cpu, cpuField}, {"memory", memory, memoryField}} {
			parsed, err := positiveQuantity(component, q.resource, strings.TrimSpace(q.value))
			if err != nil {
				return err
			}
			if component == "proxy" {
				if limit := resource.MustParse(proxyLimits[q.resource]); parsed.Cmp(limit) > 0 {
					return fmt.Errorf("proxy %s %s is above the sidecar's %s limit %s (istio-discovery values.yaml global.proxy.resources.limits)", q.resource, parsed.String(), q.resource, limit.String())
				}
			}
			*q.field = parsed.String()
		}
	}
	*r = next
	return nil
}

func positiveQuantity(component, name, value string) (resource.Quantity, error) {
	q, err := resource.ParseQuantity(value)
	if err != nil {
		return q, fmt.Errorf("%s %s %q: %v", component, name, value, err)
	}
	if q.Sign() <= 0 {
		return q, fmt.Errorf("%s %s %q must be positive", component, name, value)
	}
	return q, nil
}

// Validate checks requests set in code rather than through Set.
func (r Requests) Validate() error {
	check := r
	return check.Set(r.String())
}
