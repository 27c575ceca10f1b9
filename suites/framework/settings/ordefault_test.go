package settings

import (
	"testing"
	"time"
)

// OrDefault replaces a zero or negative value with the default and keeps a positive one.
func TestOrDefault(t *testing.T) {
	for _, c := range []struct{ v, want time.Duration }{{0, time.Second}, {-time.Minute, time.Second}, {time.Millisecond, time.Millisecond}} {
		v := c.v
		if OrDefault(&v, time.Second); v != c.want {
			t.Errorf("OrDefault(%s, 1s) = %s, want %s", c.v, v, c.want)
		}
	}
	n := 0
	if OrDefault(&n, 3); n != 3 {
		t.Errorf("OrDefault(0, 3) = %d", n)
	}
}
