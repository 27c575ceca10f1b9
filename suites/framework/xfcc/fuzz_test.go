package xfcc

import (
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts survives a round trip
// through String/Format unchanged. The seed corpus lives in testdata/fuzz/FuzzParse; run
// `go test -run='^$' -fuzz=FuzzParse ./suites/framework/xfcc` to explore further.
func FuzzParse(f *testing.F) {
	f.Add(istioHeader)
	f.Add(`By=a;Hash=b;Cert="c%0A";Chain="d";Subject="e,\"f\"";URI=;DNS=g;DNS=h,By=i`)
	f.Fuzz(func(t *testing.T, header string) {
		elements, err := Parse(header)
		if err != nil {
			return
		}
		if len(elements) == 0 {
			t.Fatalf("Parse(%q) accepted the header but returned no elements", header)
		}
		formatted := Format(elements)
		again, err := Parse(formatted)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its Format %q does not parse: %v", header, formatted, err)
		}
		if !reflect.DeepEqual(elements, again) {
			t.Fatalf("round trip changed %q\n first  %#v\n format %q\n second %#v", header, elements, formatted, again)
		}
		if f2 := Format(again); f2 != formatted {
			t.Fatalf("Format is not stable: %q then %q", formatted, f2)
		}
	})
}
