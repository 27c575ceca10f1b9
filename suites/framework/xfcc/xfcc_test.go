package xfcc

import (
	"reflect"
	"strings"
	"testing"
)

const (
	fooHttpbin = "spiffe://cluster.local/ns/foo/sa/httpbin"
	fooSleep   = "spiffe://cluster.local/ns/foo/sa/sleep"
	hash       = "468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688"
)

// istioHeader is the shape seed 001 shows for sleep.foo → httpbin.foo.
var istioHeader = "By=" + fooHttpbin + ";Hash=" + hash + `;Subject="";URI=` + fooSleep

func TestParse(t *testing.T) {
	cases := []struct {
		name   string
		header string
		want   []Element
	}{
		{
			name:   "istio sidecar",
			header: istioHeader,
			want:   []Element{{By: []string{fooHttpbin}, Hash: hash, HasSubject: true, URI: []string{fooSleep}}},
		},
		{
			// Envoy's documentation, example 1.
			name:   "envoy docs one certificate",
			header: `By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com`,
			want: []Element{{
				By: []string{"http://frontend.lyft.com"}, Hash: hash,
				Subject: "/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client", HasSubject: true,
				URI: []string{"http://testclient.lyft.com"},
			}},
		},
		{
			// Envoy's documentation, example 2: two proxies appended an element each.
			name:   "envoy docs two elements",
			header: "By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;URI=http://testclient.lyft.com,By=http://backend.lyft.com;Hash=9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e;URI=http://frontend.lyft.com",
			want: []Element{
				{By: []string{"http://frontend.lyft.com"}, Hash: hash, URI: []string{"http://testclient.lyft.com"}},
				{By: []string{"http://backend.lyft.com"}, Hash: "9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e", URI: []string{"http://frontend.lyft.com"}},
			},
		},
		{
			// Envoy's documentation, example 3: DNS repeats, one pair per SAN.
			name:   "envoy docs dns",
			header: `By=http://frontend.lyft.com;Hash=` + hash + `;Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com;DNS=lyft.com;DNS=www.lyft.com`,
			want: []Element{{
				By: []string{"http://frontend.lyft.com"}, Hash: hash,
				Subject: "/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client", HasSubject: true,
				URI: []string{"http://testclient.lyft.com"}, DNS: []string{"lyft.com", "www.lyft.com"},
			}},
		},
		{
			name:   "separators inside quotes and escaped quote",
			header: `Subject="CN=a,b;c=\"d\"";Cert="-----BEGIN%20CERTIFICATE-----%0A";Chain="x\\y"`,
			want:   []Element{{Subject: `CN=a,b;c="d"`, HasSubject: true, Cert: "-----BEGIN%20CERTIFICATE-----%0A", Chain: `x\y`}},
		},
		{
			name:   "keys are case-insensitive",
			header: "by=a;HASH=" + hash + ";uRi=b",
			want:   []Element{{By: []string{"a"}, Hash: hash, URI: []string{"b"}}},
		},
		{
			// Envoy writes "URI=" when the peer certificate has no URI SAN, and one By/URI per SAN.
			name:   "empty URI and repeated By and URI",
			header: "By=a;By=b;URI=,URI=x;URI=y",
			want: []Element{
				{By: []string{"a", "b"}, URI: []string{""}},
				{URI: []string{"x", "y"}},
			},
		},
		{
			name:   "whitespace before keys",
			header: "By=a; URI=b, By=c;\tURI=d",
			want:   []Element{{By: []string{"a"}, URI: []string{"b"}}, {By: []string{"c"}, URI: []string{"d"}}},
		},
		{
			name:   "unknown backslash kept",
			header: `Subject="a\b"`,
			want:   []Element{{Subject: `a\b`, HasSubject: true}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.header)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.header, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Parse(%q)\n got  %#v\n want %#v", tc.header, got, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"":                               "expected a key",
		"By":                             `key "By" is not followed by '='`,
		"By=a;":                          "expected a key",
		"By=a,":                          "expected a key",
		",By=a":                          "expected a key",
		"By=a;;URI=b":                    "expected a key",
		`Subject="abc`:                   "unterminated quoted value",
		`Subject="abc\"`:                 "unterminated quoted value",
		`Subject="abc"x`:                 `closing quote of Subject is followed by 'x'`,
		`By=a"b`:                         "double quote inside the unquoted value of By",
		"Foo=bar":                        `unknown key "Foo"`,
		"Hash=" + hash + ";Hash=" + hash: "Hash appears twice in one element",
		`Subject="";Subject=""`:          "Subject appears twice in one element",
		"Hash=":                          "Hash has an empty value",
		`Cert=""`:                        "Cert has an empty value",
		"By=":                            "By has an empty value",
		"DNS=":                           "DNS has an empty value",
		"By =a":                          `key "By" is not followed by '='`,
	}
	for header, want := range cases {
		_, err := Parse(header)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error = %v, want one containing %q", header, err, want)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	e := Element{
		By: []string{fooHttpbin}, Hash: hash, Cert: "a%20b", Chain: `c"d`,
		Subject: `CN=x,O=y\z`, HasSubject: true, URI: []string{"u;v", ""}, DNS: []string{"d=1"},
	}
	want := `By=` + fooHttpbin + `;Hash=` + hash + `;Cert="a%20b";Chain="c\"d";Subject="CN=x,O=y\\z";URI="u;v";URI=;DNS="d=1"`
	if got := e.String(); got != want {
		t.Fatalf("String()\n got  %s\n want %s", got, want)
	}
	back, err := Parse(Format([]Element{e, e}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, []Element{e, e}) {
		t.Fatalf("round trip\n got  %#v\n want %#v", back, []Element{e, e})
	}
}

func TestVerify(t *testing.T) {
	want := &Want{By: fooHttpbin, URI: fooSleep}
	if _, err := Verify(nil, nil); err != nil {
		t.Errorf("absent and not wanted: %v", err)
	}
	got, err := Verify([]string{istioHeader}, want)
	if err != nil {
		t.Fatalf("istio header: %v", err)
	}
	if got[0].URI[0] != fooSleep {
		t.Errorf("parsed URI %q", got[0].URI)
	}
	if _, err := Verify([]string{istioHeader}, &Want{By: fooHttpbin, URI: fooSleep, Hash: hash}); err != nil {
		t.Errorf("exact hash: %v", err)
	}

	failures := []struct {
		name   string
		values []string
		want   *Want
		msg    string
	}{
		{"present but unexpected", []string{istioHeader}, nil, "is present but the connection should not be mutual TLS"},
		{"absent but expected", nil, want, "is absent but the connection should be mutual TLS (By=" + fooHttpbin},
		{"twice", []string{istioHeader, istioHeader}, want, "appears 2 times"},
		{"two elements", []string{istioHeader + "," + istioHeader}, want, "has 2 elements, want 1"},
		{"malformed", []string{"By=" + fooHttpbin + ";Nope=1"}, want, `unknown key "Nope"`},
		{"wrong By", []string{strings.Replace(istioHeader, "ns/foo/sa/httpbin", "ns/bar/sa/httpbin", 1)}, want, `By=["spiffe://cluster.local/ns/bar/sa/httpbin"], want ["` + fooHttpbin + `"]`},
		{"wrong URI", []string{strings.Replace(istioHeader, "sa/sleep", "sa/curl", 1)}, want, `URI=["spiffe://cluster.local/ns/foo/sa/curl"], want ["` + fooSleep + `"]`},
		{"two URIs", []string{istioHeader + ";URI=" + fooSleep}, want, "URI=["},
		{"uppercase hash", []string{strings.Replace(istioHeader, hash, strings.ToUpper(hash), 1)}, want, "is not 64 lowercase hex digits"},
		{"short hash", []string{strings.Replace(istioHeader, hash, hash[:63], 1)}, want, "is not 64 lowercase hex digits"},
		{"wrong exact hash", []string{istioHeader}, &Want{By: fooHttpbin, URI: fooSleep, Hash: strings.Repeat("0", 64)}, "Hash=\"" + hash + "\", want \"" + strings.Repeat("0", 64)},
		{"subject set", []string{strings.Replace(istioHeader, `Subject=""`, `Subject="CN=x"`, 1)}, want, `Subject="CN=x" (present: true), want present and empty`},
		{"subject missing", []string{strings.Replace(istioHeader, `Subject="";`, "", 1)}, want, `Subject="" (present: false)`},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.values, tc.want)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Verify error = %v, want one containing %q", err, tc.msg)
			}
		})
	}
}

// TestVerifyWaypoint: a waypoint's XFCC is exactly By=<waypoint>;URI=<client> (its header
// mutation, no certificate details); the sidecar's full element, or any extra key, fails.
func TestVerifyWaypoint(t *testing.T) {
	waypoint := "spiffe://cluster.local/ns/foo/sa/waypoint"
	want := &Want{By: waypoint, URI: fooSleep, Waypoint: true}
	header := "By=" + waypoint + ";URI=" + fooSleep
	if _, err := Verify([]string{header}, want); err != nil {
		t.Fatalf("waypoint header: %v", err)
	}
	failures := []struct {
		name, value, msg string
	}{
		{"a sidecar's element", strings.Replace(istioHeader, fooHttpbin, waypoint, 1), "Hash="},
		{"subject", header + `;Subject=""`, "Subject="},
		{"dns", header + ";DNS=foo", "DNS="},
		{"wrong By", "By=" + fooHttpbin + ";URI=" + fooSleep, "By="},
		{"no URI", "By=" + waypoint, "URI="},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify([]string{tc.value}, want)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Verify(%q) error = %v, want one containing %q", tc.value, err, tc.msg)
			}
		})
	}
}
