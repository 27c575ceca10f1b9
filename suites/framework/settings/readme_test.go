package settings

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEverySetting keeps the README's settings table identical to the code.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	Describe(&buf)
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !bytes.Contains(readme, []byte(line)) {
			t.Errorf("README.md lacks the settings row:\n%s", line)
		}
	}
}
