package harness

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"istio.io/istio/security/pkg/pki/util"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/scenarios/policy/policytest"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/catalogtest"
	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/configdump"
)

// update rewrites the recorded dumps: go test ./harness -run TestRecordedDumps -update
var update = flag.Bool("update", false, "rewrite suites/framework/authcheck/testdata from Istio's generator")

// testdataDir is where the main module's engine tests read recorded dumps.
const testdataDir = "../../../suites/framework/authcheck/testdata"

// recordedStates are the states whose dumps the engine's own tests read: each PeerAuthentication
// mode, a port-level override, and a client under auto mTLS and under DestinationRules (one of them
// sending plaintext into a STRICT server).
var recordedStates = []struct {
	name    string
	yaml    string
	proxies []fixtures.Ref
}{
	{"baseline", "", []fixtures.Ref{{Name: "httpbin", Namespace: "foo"}, {Name: "sleep", Namespace: "foo"}}},
	{"namespace-strict", paYAML("foo", "", "STRICT", ""), []fixtures.Ref{{Name: "httpbin", Namespace: "foo"}}},
	{"port-level", paYAML("foo", "httpbin", "STRICT", "8080: {mode: DISABLE}"), []fixtures.Ref{{Name: "httpbin", Namespace: "foo"}}},
	{"bar-disable", paYAML("bar", "", "DISABLE", ""), []fixtures.Ref{{Name: "sleep", Namespace: "foo"}}},
	{"destination-rules", drYAML("foo", "legacy-mtls", "httpbin.legacy.svc.cluster.local", "ISTIO_MUTUAL") + "---\n" +
		drYAML("foo", "bar-plaintext", "httpbin.bar.svc.cluster.local", "DISABLE") + "---\n" +
		paYAML("bar", "", "STRICT", ""), []fixtures.Ref{{Name: "sleep", Namespace: "foo"}, {Name: "httpbin", Namespace: "bar"}}},
}

// TestRecordedDumps keeps the engine's recorded dumps honest: their listeners, clusters and
// endpoints must be exactly what Istio's generator produces now. The workload certificates in
// them are issued by Istio's own CA code (security/pkg/pki/util) at record time.
func TestRecordedDumps(t *testing.T) {
	topo := catalogtest.Topology(t)
	for _, st := range recordedStates {
		t.Run(st.name, func(t *testing.T) {
			gen, err := Generate(t, oracle.Input{Topology: topo, Objects: policytest.Objects(t, st.yaml)})
			if err != nil {
				t.Fatal(err)
			}
			for _, ref := range st.proxies {
				path := filepath.Join(testdataDir, st.name+"_"+ref.String()+".json")
				fresh := gen.Dumps[ref]
				if fresh == nil {
					t.Fatalf("%s has no sidecar", ref)
				}
				if *update {
					wl, _ := topo.Workload(ref)
					withCerts := *fresh
					withCerts.Secrets = issueSecrets(t, gen.TrustDomain, wl)
					sortByName(&withCerts)
					raw, err := configdump.Marshal(&withCerts)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, raw, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to record)", err)
				}
				recorded, err := authcheck.ParseConfigDump(data)
				if err != nil {
					t.Fatal(err)
				}
				compareResources(t, path, "listener", recorded.Listeners, fresh.Listeners, (*listenerv3.Listener).GetName)
				compareResources(t, path, "cluster", recorded.Clusters, fresh.Clusters, (*clusterv3.Cluster).GetName)
				compareResources(t, path, "endpoints", recorded.Endpoints, fresh.Endpoints, (*endpointv3.ClusterLoadAssignment).GetClusterName)
			}
		})
	}
}

// compareResources compares by name: Istio's generator builds listeners and clusters from maps,
// so their order varies between runs, and Envoy does not depend on it either.
func compareResources[T proto.Message](t *testing.T, path, kind string, recorded, fresh []T, name func(T) string) {
	t.Helper()
	if len(recorded) != len(fresh) {
		t.Errorf("%s: %d %ss recorded, Istio generates %d now (run with -update)", path, len(recorded), kind, len(fresh))
		return
	}
	byName := map[string]T{}
	for _, r := range recorded {
		byName[name(r)] = r
	}
	for _, f := range fresh {
		r, ok := byName[name(f)]
		if !ok {
			t.Errorf("%s: Istio now generates %s %s, which is not recorded (run with -update)", path, kind, name(f))
			continue
		}
		if d := cmp.Diff(r, f, protocmp.Transform()); d != "" {
			t.Errorf("%s: %s %s differs from what Istio generates now (run with -update):\n%s", path, kind, name(f), d)
		}
	}
}

// sortByName makes recorded files stable across runs.
func sortByName(d *authcheck.Dump) {
	slices.SortFunc(d.Listeners, func(a, b *listenerv3.Listener) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(d.Clusters, func(a, b *clusterv3.Cluster) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(d.Endpoints, func(a, b *endpointv3.ClusterLoadAssignment) int {
		return strings.Compare(a.GetClusterName(), b.GetClusterName())
	})
}

// recordTime fixes the certificates' validity window so the engine's tests can assert it.
var recordTime = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// issueSecrets issues the workload certificate ("default") the way Istio's self-signed CA does
// — root with O=<trust domain>, leaf with the SPIFFE URI SAN and the default 24 h TTL
// (pilot/pkg/bootstrap/istio_ca.go; security/pkg/pki/ca; pkg/security SECRET_TTL) — and the
// ROOTCA validation context, as istio-agent serves them over SDS.
func issueSecrets(t *testing.T, trustDomain string, wl fixtures.Workload) []authcheck.Secret {
	t.Helper()
	rootPEM, rootKeyPEM, err := util.GenCertKeyFromOptions(util.CertOptions{
		Org: trustDomain, IsCA: true, IsSelfSigned: true, TTL: 10 * 365 * 24 * time.Hour,
		RSAKeySize: 2048, NotBefore: recordTime.Add(-24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	root, err := util.ParsePemEncodedCertificate(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	rootKey, err := util.ParsePemEncodedKey(rootKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leafPEM, _, err := util.GenCertKeyFromOptions(util.CertOptions{
		Host:       fixtures.SPIFFEID(trustDomain, wl.Namespace, wl.ServiceAccount),
		SignerCert: root, SignerPriv: rootKey,
		TTL: 24 * time.Hour, NotBefore: recordTime, RSAKeySize: 2048,
		IsClient: true, IsServer: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return []authcheck.Secret{
		{Name: "default", Secret: &tlsv3.Secret{Name: "default", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: append(leafPEM, rootPEM...)}},
			// Envoy's config dump redacts private keys (envoy source/server/admin/config_dump_handler.cc).
			PrivateKey: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "[redacted]"}},
		}}}},
		{Name: "ROOTCA", Secret: &tlsv3.Secret{Name: "ROOTCA", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: rootPEM}},
		}}}},
	}
}
