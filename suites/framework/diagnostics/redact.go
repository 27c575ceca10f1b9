package diagnostics

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Redacted replaces every secret value; RedactedPrivateKey replaces a PEM private key block.
const (
	Redacted           = "[REDACTED]"
	RedactedPrivateKey = "[REDACTED PRIVATE KEY]"
)

// sensitiveKeys are object keys whose values are secrets, compared after lower-casing and
// dropping '-' and '_' (so private_key, privateKey and private-key are one key):
//   - Envoy's fields marked (udpa.annotations.sensitive): TlsCertificate private_key, password,
//     pkcs12; DownstreamTlsContext session_ticket_keys; Secret generic_secret; OAuth2
//     token_secret and hmac_secret (envoyproxy/go-control-plane envoy/extensions/...
//     transport_sockets/tls/v3/common.pb.go, secret.pb.go; filters/http/oauth2/v3). Envoy's
//     config_dump already prints "[redacted]" for them; this does not rely on it.
//   - kubeconfig user credentials: client-key-data, token, password, and auth-provider
//     id-token, refresh-token, access-token, client-secret (k8s.io/client-go/tools/clientcmd/api/v1).
//   - HTTP credentials: authorization headers, bearer tokens, API keys.
var sensitiveKeys = map[string]bool{
	"privatekey": true, "password": true, "pkcs12": true, "sessionticketkeys": true,
	"genericsecret": true, "tokensecret": true, "hmacsecret": true,
	"clientkeydata": true, "token": true, "idtoken": true, "refreshtoken": true,
	"accesstoken": true, "clientsecret": true,
	"authorization": true, "proxyauthorization": true, "bearertoken": true, "apikey": true,
}

func normalizeKey(k string) string {
	return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(k))
}

// RedactValue redacts a decoded JSON or YAML document in place and returns it: values of
// sensitive keys, every value of a Kubernetes Secret's data and stringData (keys stay, they say
// what the Secret holds), and secrets inside strings (see RedactText).
func RedactValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		isSecret := t["kind"] == "Secret"
		for k, val := range t {
			switch {
			case sensitiveKeys[normalizeKey(k)]:
				t[k] = Redacted
			case isSecret && (k == "data" || k == "stringData"):
				if m, ok := val.(map[string]any); ok {
					for dk := range m {
						m[dk] = Redacted
					}
				} else {
					t[k] = Redacted
				}
			default:
				t[k] = RedactValue(val)
			}
		}
		return t
	case []any:
		for i := range t {
			t[i] = RedactValue(t[i])
		}
		return t
	case string:
		// A string can hold a whole document (last-applied-configuration annotations).
		if trimmed := strings.TrimSpace(t); strings.HasPrefix(trimmed, "{") {
			if out, err := RedactJSON([]byte(trimmed)); err == nil {
				return string(bytes.TrimSpace(out))
			}
		}
		return string(RedactText([]byte(t)))
	}
	return v
}

// RedactJSON redacts a JSON document (an Envoy config_dump, an object) structurally, then as
// text. It fails when data is not JSON; callers then fall back to RedactText.
func RedactJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep numbers exactly as written
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON document")
	}
	v = RedactValue(v)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return RedactText(buf.Bytes()), nil
}

// RedactYAML redacts a multi-document YAML stream (a kubeconfig, objects) structurally, then
// as text. It fails when data is not YAML.
func RedactYAML(data []byte) ([]byte, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var docs [][]byte
	for {
		var v any
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		if v == nil {
			continue
		}
		out, err := yaml.Marshal(RedactValue(v))
		if err != nil {
			return nil, err
		}
		docs = append(docs, out)
	}
	return RedactText(bytes.Join(docs, []byte("---\n"))), nil
}

var (
	// A PEM private key block, whatever its type (RSA, EC, ENCRYPTED, none), with real or
	// JSON-escaped newlines inside.
	pemPrivateKey = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----`)
	// What is left of a block cut by a size limit: the start without the end, or the end
	// without the start, with the base64 (and escaped newlines) next to it.
	pemKeyStart = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[A-Za-z0-9+/=\s]|\\n|\\r)*`)
	pemKeyEnd   = regexp.MustCompile(`(?:[A-Za-z0-9+/=\s]|\\n|\\r)*-----END [A-Z0-9 ]*PRIVATE KEY-----`)
	// base64 of "-----BEGIN": a PEM block encoded once more, as in kubeconfig *-data fields,
	// Secret data and Envoy's inline_bytes.
	base64PEM = regexp.MustCompile(`LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}`)
	// A JSON Web Token: a Kubernetes service account token, an OIDC id-token.
	jwt = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
	// An Authorization header in the forms logs print it: "Authorization: Bearer x",
	// "authorization":"Bearer x", ["Bearer x"] (go-httpbin's /headers), Envoy's
	// 'authorization', 'Bearer x'.
	authorizationHeader = regexp.MustCompile(`(?i)(\b(?:proxy-)?authorization["']?\s*[:=,]\s*\[?\s*["']?)((?:bearer|basic|negotiate|token)\s+)?([^\s"',;\[\]}][^\s"',;\]}]*)`)
	// key: value and key=value pairs of credential keys in free text. Neither pattern matches a
	// value that starts with '[', so a second pass leaves "[REDACTED]" alone.
	credentialPair = regexp.MustCompile(`(?i)(\b(?:token|id-token|refresh-token|access[-_]token|client-key-data|client[-_]secret|password|private[-_]key|api[-_]key)["']?\s*[:=]\s*["']?)([^\s"',}{\[\]]+)`)
)

// RedactText removes secrets from free text (logs, events, error messages): PEM private keys
// (whole or cut), base64-encoded PEM private keys, JWTs, Authorization header values and
// credential key-value pairs. Certificates, SPIFFE IDs and XFCC headers stay: they are public
// and they are what a reader of an mTLS failure needs.
func RedactText(data []byte) []byte {
	// Whole blocks first; their replacement holds no marker, so what the next two find are the
	// halves of blocks a size limit cut.
	out := pemPrivateKey.ReplaceAll(data, []byte(RedactedPrivateKey))
	out = pemKeyStart.ReplaceAll(out, []byte(RedactedPrivateKey))
	out = pemKeyEnd.ReplaceAll(out, []byte(RedactedPrivateKey))
	out = base64PEM.ReplaceAllFunc(out, func(m []byte) []byte {
		if encodesPrivateKey(m) {
			return []byte(Redacted)
		}
		return m
	})
	out = authorizationHeader.ReplaceAllFunc(out, func(m []byte) []byte {
		sm := authorizationHeader.FindSubmatch(m)
		if len(sm[2]) == 0 && authSchemes[strings.ToLower(string(sm[3]))] {
			return m // "Bearer [REDACTED]" from an earlier pass: the scheme is not the secret
		}
		return append(append(append([]byte(nil), sm[1]...), sm[2]...), Redacted...)
	})
	out = credentialPair.ReplaceAll(out, []byte("${1}"+Redacted))
	return jwt.ReplaceAll(out, []byte(Redacted))
}

var authSchemes = map[string]bool{"bearer": true, "basic": true, "negotiate": true, "token": true}

// encodesPrivateKey decodes as much of a base64 string as is whole and looks for a private key
// header. A cut string still decodes in its first complete quanta.
func encodesPrivateKey(b []byte) bool {
	s := strings.TrimRight(string(b), "=")
	s = s[:len(s)-len(s)%4]
	decoded, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return false
	}
	header, _, _ := bytes.Cut(decoded, []byte("\n"))
	return bytes.Contains(header, []byte("PRIVATE KEY"))
}
