// Package xfcc parses and checks the X-Forwarded-Client-Cert header the way Envoy writes it.
//
// Grammar (envoyproxy/envoy docs/root/configuration/http/http_conn_man/headers.rst,
// section "x-forwarded-client-cert"):
//   - the header is a comma-separated list of elements, one per proxy that appended one;
//   - an element is a semicolon-separated list of key=value pairs;
//   - keys are case-insensitive, values case-sensitive;
//   - a value containing ",", ";" or "=" should be double-quoted, and a double quote inside a
//     quoted value is written \";
//   - keys: By, Hash, Cert, Chain, Subject, URI, DNS.
//
// What Envoy actually emits (envoyproxy/envoy source/common/http/conn_manager_utility.cc,
// ConnectionManagerUtility::mutateXfccRequestHeader): By=<each local URI SAN> only when the local
// certificate has one; Hash=<hex SHA-256 of the peer certificate> only when non-empty;
// Cert="..." and Chain="..." quoted, only when non-empty; Subject="..." always quoted and present
// even when empty; URI=<each peer URI SAN>, or "URI=" when there is none; DNS=<each DNS SAN>.
// Elements are joined with "," when appending (APPEND_FORWARD). The parser accepts exactly that,
// plus quoting of any value and optional whitespace before a key.
package xfcc

import (
	"errors"
	"fmt"
	"strings"
)

// Header is the header name, in the canonical form Go's net/http and go-httpbin use.
const Header = "X-Forwarded-Client-Cert"

// Element is what one proxy appended: the details of the client certificate it verified.
type Element struct {
	// By holds the URI SANs of the proxy's own certificate (Envoy writes one By per SAN).
	By []string
	// Hash is the lowercase hex SHA-256 of the client certificate's DER encoding.
	Hash string
	// Cert and Chain are the URL-encoded PEM client certificate and chain.
	Cert, Chain string
	// Subject is the client certificate's subject; HasSubject says whether the key was present,
	// since Envoy writes Subject="" for a certificate without a subject (Istio's certificates).
	Subject    string
	HasSubject bool
	// URI holds the client certificate's URI SANs (the SPIFFE ID for Istio); DNS its DNS SANs.
	URI []string
	DNS []string
}

// Parse splits a header value into its elements. It rejects what Envoy never writes: unknown
// keys, a repeated single-valued key, empty By/Hash/Cert/Chain/DNS values, empty elements,
// unterminated quotes and text after a closing quote.
func Parse(header string) ([]Element, error) {
	p := parser{s: header}
	var out []Element
	for {
		e, err := p.element()
		if err != nil {
			return nil, fmt.Errorf("xfcc: %w at byte %d of %q", err, p.i, header)
		}
		out = append(out, e)
		if p.done() {
			return out, nil
		}
		p.i++ // the ',' that ended the element
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }

// element reads pairs up to the next ',' outside quotes or the end of input.
func (p *parser) element() (Element, error) {
	var e Element
	for {
		key, value, err := p.pair()
		if err != nil {
			return Element{}, err
		}
		if err := e.set(key, value); err != nil {
			return Element{}, err
		}
		if p.done() || p.s[p.i] == ',' {
			return e, nil
		}
		p.i++ // the ';' that ended the pair
	}
}

// pair reads key=value; it leaves p.i on the ';' or ',' that ends it, or at the end.
func (p *parser) pair() (key, value string, err error) {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
	start := p.i
	for !p.done() && isKeyByte(p.s[p.i]) {
		p.i++
	}
	key = p.s[start:p.i]
	if key == "" {
		return "", "", errors.New("expected a key")
	}
	if p.done() || p.s[p.i] != '=' {
		return "", "", fmt.Errorf("key %q is not followed by '='", key)
	}
	p.i++
	if !p.done() && p.s[p.i] == '"' {
		value, err = p.quoted()
		if err != nil {
			return "", "", err
		}
		if !p.done() && p.s[p.i] != ';' && p.s[p.i] != ',' {
			return "", "", fmt.Errorf("closing quote of %s is followed by %q, not ';' or ','", key, p.s[p.i])
		}
		return key, value, nil
	}
	start = p.i
	for !p.done() && p.s[p.i] != ';' && p.s[p.i] != ',' {
		if p.s[p.i] == '"' {
			return "", "", fmt.Errorf("double quote inside the unquoted value of %s", key)
		}
		p.i++
	}
	return key, p.s[start:p.i], nil
}

// quoted reads a double-quoted value starting at the opening quote. \" stands for a quote and
// \\ for a backslash; any other backslash is kept as written (Envoy escapes nothing itself).
func (p *parser) quoted() (string, error) {
	open := p.i
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		switch {
		case c == '\\' && p.i+1 < len(p.s) && (p.s[p.i+1] == '"' || p.s[p.i+1] == '\\'):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case c == '"':
			p.i++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	p.i = open
	return "", errors.New("unterminated quoted value")
}

// isKeyByte accepts the bytes of an HTTP token (RFC 9110 tchar), so that any key Envoy could
// write is read as a key and then judged by name.
func isKeyByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (e *Element) set(key, value string) error {
	nonEmpty := func() error {
		if value == "" {
			return fmt.Errorf("%s has an empty value (Envoy omits the key instead)", key)
		}
		return nil
	}
	once := func(field *string) error {
		if *field != "" {
			return fmt.Errorf("%s appears twice in one element", key)
		}
		*field = value
		return nonEmpty()
	}
	switch strings.ToLower(key) {
	case "by":
		e.By = append(e.By, value)
		return nonEmpty()
	case "hash":
		return once(&e.Hash)
	case "cert":
		return once(&e.Cert)
	case "chain":
		return once(&e.Chain)
	case "subject":
		if e.HasSubject {
			return fmt.Errorf("%s appears twice in one element", key)
		}
		e.Subject, e.HasSubject = value, true
		return nil
	case "uri":
		e.URI = append(e.URI, value)
		return nil
	case "dns":
		e.DNS = append(e.DNS, value)
		return nonEmpty()
	}
	return fmt.Errorf("unknown key %q (Envoy writes By, Hash, Cert, Chain, Subject, URI, DNS)", key)
}

// String writes the element in Envoy's key order and quoting: Cert, Chain and Subject always
// quoted, other values quoted only when they contain a separator, a quote or a backslash.
func (e Element) String() string {
	var parts []string
	for _, by := range e.By {
		parts = append(parts, "By="+maybeQuote(by))
	}
	if e.Hash != "" {
		parts = append(parts, "Hash="+maybeQuote(e.Hash))
	}
	if e.Cert != "" {
		parts = append(parts, "Cert="+quote(e.Cert))
	}
	if e.Chain != "" {
		parts = append(parts, "Chain="+quote(e.Chain))
	}
	if e.HasSubject {
		parts = append(parts, "Subject="+quote(e.Subject))
	}
	for _, uri := range e.URI {
		parts = append(parts, "URI="+maybeQuote(uri))
	}
	for _, dns := range e.DNS {
		parts = append(parts, "DNS="+maybeQuote(dns))
	}
	return strings.Join(parts, ";")
}

// Format joins elements as Envoy's APPEND_FORWARD does.
func Format(elements []Element) string {
	parts := make([]string, len(elements))
	for i, e := range elements {
		parts[i] = e.String()
	}
	return strings.Join(parts, ",")
}

func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

func maybeQuote(v string) string {
	if strings.ContainsAny(v, `,;="\`) {
		return quote(v)
	}
	return v
}
