package ambient

import (
	"encoding/json"
	"fmt"
	"os/exec"

	"github.com/mtls-conformance/mtls-conformance/scenarios/policy"
)

func decode(yaml string) ([]policy.Object, error) { return policy.Decode([]byte(yaml)) }

// istioDir is the pinned istio.io/istio module's directory (go list reads go.mod's pin).
func istioDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-json", "istio.io/istio").Output()
	if err != nil {
		return "", err
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", err
	}
	if m.Dir == "" {
		return "", fmt.Errorf("istio.io/istio is not downloaded")
	}
	return m.Dir, nil
}
