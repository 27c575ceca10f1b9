package istio

import (
	"slices"
	"testing"
)

// The images follow the chart: hub and tag overrides, the istiod image name (values.yaml
// image: pilot) and the sidecar's (global.proxy.image: proxyv2).
func TestImagesFromTheChart(t *testing.T) {
	in := offlineInstaller(t, Options{ChartsDir: sourceCharts(t), Hub: "localhost/mtls-conformance", Tag: "1.31.0"})
	got, err := in.Images(true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"localhost/mtls-conformance/pilot:1.31.0", "localhost/mtls-conformance/proxyv2:1.31.0"}; !slices.Equal(got, want) {
		t.Errorf("Images(true) = %v, want %v", got, want)
	}
	if got, _ := in.Images(false); len(got) != 1 {
		t.Errorf("Images(false) = %v, want istiod only", got)
	}
}
