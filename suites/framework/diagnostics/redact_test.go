package diagnostics

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/certtest"
)

// workloadCert makes a real key pair and certificate like the ones istiod issues: an EC key and
// a certificate whose URI SAN is the workload's SPIFFE ID.
func workloadCert(t *testing.T, spiffeID string) (certPEM, keyPEM []byte) {
	t.Helper()
	c := certtest.Issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Organization: []string{"cluster.local"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		URIs:         []*url.URL{certtest.URI(t, spiffeID)},
	}, nil)
	return c.CertPEM(), c.KeyPEM(t)
}

// keyBody is the base64 body of a PEM key, the part that must never appear.
func keyBody(keyPEM []byte) string {
	lines := strings.Split(strings.TrimSpace(string(keyPEM)), "\n")
	return strings.Join(lines[1:len(lines)-1], "")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// A service account token in the shape the kubelet projects: a signed JWT whose issuer is the
// cluster's.
const saToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjZ0dEp4c0VfTjZXYkZ0In0" +
	".eyJhdWQiOlsiaXN0aW8tY2EiXSwiaXNzIjoiaHR0cHM6Ly9rdWJlcm5ldGVzLmRlZmF1bHQuc3ZjLmNsdXN0ZXIubG9jYWwiLCJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6Zm9vOmh0dHBiaW4ifQ" +
	".dGhpcy1pcy1ub3QtYS1yZWFsLXNpZ25hdHVyZS1idXQtaXQtaGFzLXRoZS1zaGFwZQ"

// configDump is a trimmed Envoy config_dump of an Istio sidecar (httpbin.foo): the inbound mTLS
// listener that references SDS secrets, and the SDS secrets themselves with the workload's key.
func configDump(t *testing.T) (dump []byte, certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM = workloadCert(t, "spiffe://cluster.local/ns/foo/sa/httpbin")
	caPEM, _ := workloadCert(t, "spiffe://cluster.local/ns/istio-system/sa/istiod")
	dump = []byte(`{
 "configs": [
  {
   "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
   "bootstrap": {
    "node": {
     "id": "sidecar~10.244.0.12~httpbin-7b8f9c6d5-abcde.foo~foo.svc.cluster.local",
     "metadata": {"ISTIO_VERSION": "1.31.1", "SERVICE_ACCOUNT": "httpbin", "NAMESPACE": "foo"}
    }
   }
  },
  {
   "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
   "dynamic_listeners": [
    {
     "name": "virtualInbound",
     "active_state": {
      "listener": {
       "name": "virtualInbound",
       "filter_chains": [
        {
         "filter_chain_match": {"destination_port": 8080, "transport_protocol": "tls"},
         "transport_socket": {
          "name": "envoy.transport_sockets.tls",
          "typed_config": {
           "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
           "common_tls_context": {
            "tls_certificate_sds_secret_configs": [{"name": "default", "sds_config": {"api_config_source": {"api_type": "GRPC", "grpc_services": [{"envoy_grpc": {"cluster_name": "sds-grpc"}}]}}}],
            "combined_validation_context": {
             "default_validation_context": {"match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"prefix": "spiffe://cluster.local/"}}]},
             "validation_context_sds_secret_config": {"name": "ROOTCA"}
            }
           },
           "require_client_certificate": true
          }
         }
        }
       ]
      }
     }
    }
   ]
  },
  {
   "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
   "dynamic_active_secrets": [
    {
     "name": "default",
     "version_info": "2026-11-05 10:15:03.2 +0000 UTC",
     "secret": {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
      "name": "default",
      "tls_certificate": {
       "certificate_chain": {"inline_bytes": "` + b64(certPEM) + `"},
       "private_key": {"inline_bytes": "` + b64(keyPEM) + `"}
      }
     }
    },
    {
     "name": "ROOTCA",
     "secret": {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
      "name": "ROOTCA",
      "validation_context": {"trusted_ca": {"inline_bytes": "` + b64(caPEM) + `"}}
     }
    },
    {
     "name": "file-cert:/etc/certs/cert-chain.pem~/etc/certs/key.pem",
     "secret": {
      "name": "file-cert",
      "tls_certificate": {
       "certificate_chain": {"inline_string": ` + jsonString(certPEM) + `},
       "private_key": {"inline_string": ` + jsonString(keyPEM) + `},
       "password": {"inline_string": "hunter2"}
      }
     }
    }
   ]
  }
 ]
}`)
	return dump, certPEM, keyPEM
}

func jsonString(b []byte) string {
	out, _ := json.Marshal(string(b))
	return string(out)
}

func TestRedactConfigDump(t *testing.T) {
	dump, certPEM, keyPEM := configDump(t)
	out, err := RedactJSON(dump)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{b64(keyPEM), keyBody(keyPEM), "hunter2", "PRIVATE KEY"} {
		if bytes.Contains(out, []byte(secret)) {
			t.Errorf("redacted config_dump still holds %.40q…", secret)
		}
	}
	var doc struct {
		Configs []map[string]any `json:"configs"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("redacted config_dump is not JSON: %v", err)
	}
	secrets := doc.Configs[2]["dynamic_active_secrets"].([]any)
	tlsCert := secrets[0].(map[string]any)["secret"].(map[string]any)["tls_certificate"].(map[string]any)
	if tlsCert["private_key"] != Redacted {
		t.Errorf("private_key = %v, want %q", tlsCert["private_key"], Redacted)
	}
	// The useful parts stay: the certificate (its SPIFFE ID identifies the workload), the SDS
	// references, the SAN matcher, the node identity.
	if got := tlsCert["certificate_chain"].(map[string]any)["inline_bytes"]; got != b64(certPEM) {
		t.Error("the certificate chain must stay intact")
	}
	for _, useful := range []string{
		`"tls_certificate_sds_secret_configs"`, `"name": "ROOTCA"`, `"prefix": "spiffe://cluster.local/"`,
		`"require_client_certificate": true`, `"destination_port": 8080`, `"ISTIO_VERSION": "1.31.1"`,
		`"id": "sidecar~10.244.0.12~httpbin-7b8f9c6d5-abcde.foo~foo.svc.cluster.local"`, "-----BEGIN CERTIFICATE-----",
	} {
		if !bytes.Contains(out, []byte(useful)) {
			t.Errorf("redacted config_dump lost %s", useful)
		}
	}
}

// Envoy redacts sensitive fields itself; its marker and ours must both survive as valid JSON.
func TestRedactConfigDumpAlreadyRedactedByEnvoy(t *testing.T) {
	in := []byte(`{"tls_certificate":{"certificate_chain":{"inline_bytes":"QUJD"},"private_key":{"inline_string":"[redacted]"}}}`)
	out, err := RedactJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"tls_certificate\": {\n    \"certificate_chain\": {\n      \"inline_bytes\": \"QUJD\"\n    },\n    \"private_key\": \"[REDACTED]\"\n  }\n}\n"
	if string(out) != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}

func TestRedactKubeconfig(t *testing.T) {
	caPEM, _ := workloadCert(t, "spiffe://cluster.local/ca")
	clientCert, clientKey := workloadCert(t, "spiffe://cluster.local/admin")
	kubeconfig := `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: ` + b64(caPEM) + `
    server: https://127.0.0.1:40123
  name: kind-mtls-conformance
contexts:
- context:
    cluster: kind-mtls-conformance
    user: kind-mtls-conformance
  name: kind-mtls-conformance
current-context: kind-mtls-conformance
users:
- name: kind-mtls-conformance
  user:
    client-certificate-data: ` + b64(clientCert) + `
    client-key-data: ` + b64(clientKey) + `
- name: ci-robot
  user:
    token: ` + saToken + `
- name: oidc
  user:
    auth-provider:
      name: oidc
      config:
        client-id: kubernetes
        client-secret: 1db158f6-177d-4d9c-8a8b-d36869918ec5
        id-token: ` + saToken + `
        refresh-token: q1bKLFOyUiosTfawzA93TzZIDzH2TNa2SMm0zEiPKTUwME6BkEo6Sql5yUWVBSWpKUGphaWpxSVAfekBOZbBhaEW+VlFUeVRGcluyVF5JT4+haZmPsluFoFu5XkpXk5BXq
`
	out, err := RedactYAML([]byte(kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{b64(clientKey), keyBody(clientKey), saToken, "1db158f6-177d-4d9c-8a8b-d36869918ec5", "q1bKLFOyUiosTfawzA93"} {
		if bytes.Contains(out, []byte(secret)) {
			t.Errorf("redacted kubeconfig still holds %.30q…", secret)
		}
	}
	for _, useful := range []string{
		"server: https://127.0.0.1:40123", "current-context: kind-mtls-conformance", "client-id: kubernetes",
		"certificate-authority-data: " + b64(caPEM), "client-certificate-data: " + b64(clientCert),
		"client-key-data: '[REDACTED]'", "token: '[REDACTED]'", "id-token: '[REDACTED]'",
	} {
		if !bytes.Contains(out, []byte(useful)) {
			t.Errorf("redacted kubeconfig lost %q:\n%s", useful, out)
		}
	}
	// The same kubeconfig pasted into a log line by line (no YAML structure to walk).
	text := RedactText([]byte(kubeconfig))
	for _, secret := range []string{b64(clientKey), saToken, "1db158f6-177d-4d9c-8a8b-d36869918ec5", "q1bKLFOyUiosTfawzA93"} {
		if bytes.Contains(text, []byte(secret)) {
			t.Errorf("text-redacted kubeconfig still holds %.30q…", secret)
		}
	}
	if !bytes.Contains(text, []byte("server: https://127.0.0.1:40123")) || !bytes.Contains(text, []byte(b64(clientCert))) {
		t.Error("text redaction removed public parts of the kubeconfig")
	}
}

func TestRedactAuthorizationHeaders(t *testing.T) {
	xfcc := `By=spiffe://cluster.local/ns/foo/sa/httpbin;Hash=4f8d5b6d0e3a;Subject="";URI=spiffe://cluster.local/ns/foo/sa/sleep`
	logs := strings.Join([]string{
		// Envoy's debug header dump of an inbound request.
		`2026-11-05T10:15:03.112Z	debug	envoy http	[C12][S771] request headers complete (end_stream=true):`,
		`':authority', 'httpbin.foo:8000'`,
		`'authorization', 'Bearer ` + saToken + `'`,
		`'x-forwarded-client-cert', '` + xfcc + `'`,
		// curl -v.
		`> Authorization: Basic YWRtaW46czNjcjN0`,
		`> Proxy-Authorization: Bearer opaque-token-123`,
		// go-httpbin's /headers echo: values are arrays.
		`{"headers": {"Authorization": ["Bearer opaque-token-456"], "X-Forwarded-Client-Cert": ["` + strings.ReplaceAll(xfcc, `"`, `\"`) + `"]}}`,
	}, "\n")
	out := string(RedactText([]byte(logs)))
	for _, secret := range []string{saToken, "YWRtaW46czNjcjN0", "opaque-token-123", "opaque-token-456"} {
		if strings.Contains(out, secret) {
			t.Errorf("still holds %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		`'authorization', 'Bearer [REDACTED]'`,
		`> Authorization: Basic [REDACTED]`,
		`> Proxy-Authorization: Bearer [REDACTED]`,
		`"Authorization": ["Bearer [REDACTED]"]`,
		`'x-forwarded-client-cert', '` + xfcc + `'`,
		`':authority', 'httpbin.foo:8000'`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	// Structured: a header map.
	v, err := RedactJSON([]byte(`{"headers": {"Authorization": ["Bearer x"], "Host": ["httpbin.foo:8000"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"headers\": {\n    \"Authorization\": \"[REDACTED]\",\n    \"Host\": [\n      \"httpbin.foo:8000\"\n    ]\n  }\n}\n"; string(v) != want {
		t.Errorf("got %s", v)
	}
}

func TestRedactServiceAccountToken(t *testing.T) {
	caPEM, _ := workloadCert(t, "spiffe://cluster.local/ca")
	secret := `apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: httpbin-token
  namespace: foo
  annotations:
    kubernetes.io/service-account.name: httpbin
data:
  ca.crt: ` + b64(caPEM) + `
  namespace: Zm9v
  token: ` + b64([]byte(saToken)) + `
`
	out, err := RedactYAML([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{b64([]byte(saToken)), b64(caPEM), "Zm9v"} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("Secret data %.30q… not redacted", leak)
		}
	}
	for _, want := range []string{"ca.crt: '[REDACTED]'", "namespace: '[REDACTED]'", "token: '[REDACTED]'", "name: httpbin-token", "kubernetes.io/service-account.name: httpbin", "type: kubernetes.io/service-account-token"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	// The token itself in logs: istio-agent's and a careless debug line.
	logs := "2026-11-05T10:15:01Z info cache generated new workload certificate\n" +
		"2026-11-05T10:15:01Z debug sts token exchange: subject token " + saToken + " for audience istio-ca\n" +
		"token=" + saToken + "\n" +
		`{"token": "` + saToken + `", "expirationSeconds": 43200}` + "\n"
	text := string(RedactText([]byte(logs)))
	if strings.Contains(text, saToken) || strings.Contains(text, saToken[:40]) {
		t.Fatalf("token left in:\n%s", text)
	}
	for _, want := range []string{"generated new workload certificate", "subject token [REDACTED] for audience istio-ca", "token=[REDACTED]", `"token": "[REDACTED]", "expirationSeconds": 43200`} {
		if !strings.Contains(text, want) {
			t.Errorf("want %q in:\n%s", want, text)
		}
	}
}

func TestRedactPEMKeysWholeAndCut(t *testing.T) {
	certPEM, keyPEM := workloadCert(t, "spiffe://cluster.local/ns/foo/sa/sleep")
	body := keyBody(keyPEM)
	for name, in := range map[string]string{
		"whole":        "loaded key:\n" + string(keyPEM) + "done\n",
		"cut at end":   "loaded key:\n" + string(keyPEM[:len(keyPEM)/2]),
		"cut at start": string(keyPEM[len("-----BEGIN PRIVATE KEY-----")+10:]) + "done\n",
		"json escaped": `{"key": ` + jsonString(keyPEM) + `}`,
		"base64":       "client-key: " + b64(keyPEM) + "\n",
		"base64 cut":   "data " + b64(keyPEM)[:60] + "\n",
		"rsa type":     strings.ReplaceAll(string(keyPEM), "PRIVATE KEY", "RSA PRIVATE KEY"),
	} {
		out := string(RedactText([]byte(in)))
		// Any 16 characters of the key body are enough to call it leaked.
		for i := 0; i+16 <= len(body); i += 16 {
			if strings.Contains(out, body[i:i+16]) {
				t.Errorf("%s: key material %q left in:\n%s", name, body[i:i+16], out)
				break
			}
		}
		if !strings.Contains(out, "[REDACTED") {
			t.Errorf("%s: nothing marked redacted:\n%s", name, out)
		}
	}
	// Certificates are public and stay, PEM or base64.
	in := string(certPEM) + b64(certPEM) + "\n"
	if out := string(RedactText([]byte(in))); out != in {
		t.Errorf("a certificate was changed:\n%s", out)
	}
}

// An object's last-applied-configuration annotation is a whole JSON document in a string.
func TestRedactNestedDocument(t *testing.T) {
	obj := map[string]any{
		"kind":     "DestinationRule",
		"metadata": map[string]any{"annotations": map[string]any{"kubectl.kubernetes.io/last-applied-configuration": `{"kind":"Secret","data":{"token":"c2VjcmV0"}}`}},
	}
	RedactValue(obj)
	got := obj["metadata"].(map[string]any)["annotations"].(map[string]any)["kubectl.kubernetes.io/last-applied-configuration"]
	if s := got.(string); strings.Contains(s, "c2VjcmV0") || !strings.Contains(s, `"token": "[REDACTED]"`) {
		t.Fatalf("annotation = %s", s)
	}
}
