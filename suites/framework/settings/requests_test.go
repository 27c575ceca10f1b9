package settings

import (
	"flag"
	"strings"
	"testing"
)

// TestIstioRequests: istiod's and the sidecars' requests default to Istio's demo profile's
// (istio-discovery files/profile-demo.yaml) and a flag or ISTIO_REQUESTS raises either one alone.
func TestIstioRequests(t *testing.T) {
	def := Defaults().IstioRequests
	if def != (Requests{IstiodCPU: "10m", IstiodMemory: "100Mi", ProxyCPU: "10m", ProxyMemory: "40Mi"}) || def.String() != "istiod=10m/100Mi,proxy=10m/40Mi" {
		t.Errorf("default requests %+v (%s), want the demo profile's istiod=10m/100Mi,proxy=10m/40Mi", def, def)
	}
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		// The chart's own defaults (istio-discovery values.yaml); 2048Mi is written as 2Gi.
		{[]string{"--istio-requests=istiod=500m/2048Mi,proxy=100m/128Mi"}, nil, "istiod=500m/2Gi,proxy=100m/128Mi"},
		{nil, map[string]string{"ISTIO_REQUESTS": "istiod=1/3Gi"}, "istiod=1/3Gi,proxy=10m/40Mi"},
		{nil, map[string]string{"ISTIO_REQUESTS": " proxy = 0.2 / 256Mi "}, "istiod=10m/100Mi,proxy=200m/256Mi"},
	} {
		s, err := resolve(t, tc.args, tc.env)
		if err != nil {
			t.Errorf("%v %v: %v", tc.args, tc.env, err)
			continue
		}
		if got := s.IstioRequests.String(); got != tc.want {
			t.Errorf("%v %v: requests %s, want %s", tc.args, tc.env, got, tc.want)
		}
	}
	for _, tc := range []struct{ value, want string }{
		{"", `want component=cpu/memory, e.g. istiod=500m/2Gi,proxy=100m/128Mi`},
		{"istiod=500m", `"istiod=500m": want component=cpu/memory, e.g. istiod=500m/2Gi,proxy=100m/128Mi`},
		{"pilot=500m/2Gi", `"pilot=500m/2Gi": component "pilot" is neither istiod nor proxy`},
		{"istiod=500m/2Gi,istiod=1/3Gi", `istiod given twice`},
		{"istiod=lots/2Gi", `istiod cpu "lots": quantities must match the regular expression`},
		{"istiod=500m/-2Gi", `istiod memory "-2Gi" must be positive`},
		{"proxy=10m/0", `proxy memory "0" must be positive`},
		// A request above the limit makes the apiserver reject every injected pod; the chart's
		// proxy limits are 2000m and 1024Mi (values.yaml global.proxy.resources.limits).
		{"proxy=3/128Mi", `proxy cpu 3 is above the sidecar's cpu limit 2 (istio-discovery values.yaml global.proxy.resources.limits)`},
		{"proxy=100m/2Gi", `proxy memory 2Gi is above the sidecar's memory limit 1Gi (istio-discovery values.yaml global.proxy.resources.limits)`},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		s := Defaults()
		s.Bind(fs)
		err := s.Resolve(fs, func(k string) string {
			if k == "ISTIO_REQUESTS" {
				return tc.value
			}
			return ""
		})
		if tc.value == "" {
			// An empty variable is unset, as for every setting; the flag says what is wrong.
			err = fs.Parse([]string{"--istio-requests="})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ISTIO_REQUESTS=%q: %v, want an error containing %s", tc.value, err, tc.want)
		}
		if s.IstioRequests != Defaults().IstioRequests {
			t.Errorf("ISTIO_REQUESTS=%q changed the requests to %s", tc.value, s.IstioRequests)
		}
	}
}
