package envtestenv_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/common"
	networkingv1alpha3api "istio.io/api/networking/v1alpha3"
	securityv1beta1api "istio.io/api/security/v1beta1"
	typev1beta1api "istio.io/api/type/v1beta1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	securityv1 "istio.io/client-go/pkg/apis/security/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/mtls-conformance/mtls-conformance/suites/testsupport/envtestenv"
)

func TestMain(m *testing.M) { os.Exit(envtestenv.Main(m)) }

// The Kubernetes release tools/kubebin/go.mod pins; build.sh stamps it into the binaries.
const (
	wantGitVersion = "v1.37.2"
	wantMajor      = "1"
	wantMinor      = "37"
)

// invalidDir holds the policies Istio's CRDs reject; scenarios' catalog loader must reject the
// same files with the same messages.
var invalidDir = filepath.Join("..", "..", "..", "scenarios", "testdata", "invalid")

// testContext bounds one test's API calls, so a wedged apiserver fails the test instead of hanging it.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestIstioCRDsEstablished(t *testing.T) {
	env := envtestenv.Shared(t)
	ctx := testContext(t)

	// Every CRD in the file, read independently of envtest's installer.
	data, err := os.ReadFile(env.IstioCRDFile)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := dec.Decode(&crd); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decoding %s: %v", env.IstioCRDFile, err)
		}
		if crd.Kind == "CustomResourceDefinition" {
			want = append(want, crd.Name)
		}
	}
	sort.Strings(want)
	for _, name := range []string{"peerauthentications.security.istio.io", "destinationrules.networking.istio.io"} {
		if !slices.Contains(want, name) {
			t.Fatalf("%s does not define %s", env.IstioCRDFile, name)
		}
	}

	var installed []string
	for _, crd := range env.IstioCRDs {
		installed = append(installed, crd.Name)
	}
	sort.Strings(installed)
	if !slices.Equal(installed, want) {
		t.Fatalf("installed CRDs = %v, want the file's %v", installed, want)
	}

	client, err := apiextensionsclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range want {
		crd, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get CRD %s: %v", name, err)
		}
		if status := conditionStatus(crd, apiextensionsv1.Established); status != apiextensionsv1.ConditionTrue {
			t.Errorf("CRD %s Established = %q, want True", name, status)
		}
		if status := conditionStatus(crd, apiextensionsv1.NamesAccepted); status != apiextensionsv1.ConditionTrue {
			t.Errorf("CRD %s NamesAccepted = %q, want True", name, status)
		}
	}
}

func conditionStatus(crd *apiextensionsv1.CustomResourceDefinition, typ apiextensionsv1.CustomResourceDefinitionConditionType) apiextensionsv1.ConditionStatus {
	for _, c := range crd.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func ensureNamespace(ctx context.Context, t *testing.T, kube kubernetes.Interface, name string) {
	t.Helper()
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

func TestValidPoliciesAccepted(t *testing.T) {
	env := envtestenv.Shared(t)
	ctx := testContext(t)
	kube := kubernetes.NewForConfigOrDie(env.Config)
	istio, err := istioclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	const ns = "valid-policies"
	ensureNamespace(ctx, t, kube, ns)

	// Workload policy with a port exception: the combination the CRD's "portLevelMtls requires
	// selector" rule admits (istio.io/api security/v1beta1/peer_authentication.proto).
	pa := &securityv1.PeerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Name: "httpbin", Namespace: ns},
		Spec: securityv1beta1api.PeerAuthentication{
			Selector: &typev1beta1api.WorkloadSelector{MatchLabels: map[string]string{"app": "httpbin"}},
			Mtls:     &securityv1beta1api.PeerAuthentication_MutualTLS{Mode: securityv1beta1api.PeerAuthentication_MutualTLS_STRICT},
			PortLevelMtls: map[uint32]*securityv1beta1api.PeerAuthentication_MutualTLS{
				8080: {Mode: securityv1beta1api.PeerAuthentication_MutualTLS_DISABLE},
			},
		},
	}
	created, err := istio.SecurityV1().PeerAuthentications(ns).Create(ctx, pa, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create PeerAuthentication: %v", err)
	}
	got, err := istio.SecurityV1().PeerAuthentications(ns).Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get PeerAuthentication: %v", err)
	}
	if mode := got.Spec.GetMtls().GetMode(); mode != securityv1beta1api.PeerAuthentication_MutualTLS_STRICT {
		t.Errorf("stored mtls.mode = %v, want STRICT", mode)
	}
	if mode := got.Spec.GetPortLevelMtls()[8080].GetMode(); mode != securityv1beta1api.PeerAuthentication_MutualTLS_DISABLE {
		t.Errorf("stored portLevelMtls[8080].mode = %v, want DISABLE", mode)
	}
	if labels := got.Spec.GetSelector().GetMatchLabels(); len(labels) != 1 || labels["app"] != "httpbin" {
		t.Errorf("stored selector.matchLabels = %v, want map[app:httpbin]", labels)
	}

	dr := &networkingv1.DestinationRule{
		ObjectMeta: metav1.ObjectMeta{Name: "httpbin", Namespace: ns},
		Spec: networkingv1alpha3api.DestinationRule{
			Host: "httpbin." + ns + ".svc.cluster.local",
			TrafficPolicy: &networkingv1alpha3api.TrafficPolicy{
				Tls: &networkingv1alpha3api.ClientTLSSettings{Mode: networkingv1alpha3api.ClientTLSSettings_ISTIO_MUTUAL},
				PortLevelSettings: []*networkingv1alpha3api.TrafficPolicy_PortTrafficPolicy{{
					Port: &networkingv1alpha3api.PortSelector{Number: 8000},
					Tls:  &networkingv1alpha3api.ClientTLSSettings{Mode: networkingv1alpha3api.ClientTLSSettings_DISABLE},
				}},
			},
		},
	}
	if _, err := istio.NetworkingV1().DestinationRules(ns).Create(ctx, dr, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create DestinationRule: %v", err)
	}
	gotDR, err := istio.NetworkingV1().DestinationRules(ns).Get(ctx, dr.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get DestinationRule: %v", err)
	}
	if host := gotDR.Spec.GetHost(); host != dr.Spec.Host {
		t.Errorf("stored host = %q, want %q", host, dr.Spec.Host)
	}
	if mode := gotDR.Spec.GetTrafficPolicy().GetTls().GetMode(); mode != networkingv1alpha3api.ClientTLSSettings_ISTIO_MUTUAL {
		t.Errorf("stored trafficPolicy.tls.mode = %v, want ISTIO_MUTUAL", mode)
	}
	portLevel := gotDR.Spec.GetTrafficPolicy().GetPortLevelSettings()
	if len(portLevel) != 1 || portLevel[0].GetPort().GetNumber() != 8000 || portLevel[0].GetTls().GetMode() != networkingv1alpha3api.ClientTLSSettings_DISABLE {
		t.Errorf("stored portLevelSettings = %v, want one entry: port 8000 tls DISABLE", portLevel)
	}
}

// invalidCase is one file of scenarios/testdata/invalid. Its header comments say how the real
// apiserver rejects it:
//
//	# istio-message: <Istio's message, the text a catalog loader must report>
//	# istio-field: <the field path the apiserver names>
//	# apiserver-cause: <the apiserver's exact cause message, which ends with istio-message>
type invalidCase struct {
	file    string
	message string
	field   string
	cause   string
	object  *unstructured.Unstructured
}

func readInvalidCases(t *testing.T) []invalidCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(invalidDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no *.yaml in %s", invalidDir)
	}
	var cases []invalidCase
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c := invalidCase{file: filepath.Base(path)}
		headers := map[string]*string{"# istio-message: ": &c.message, "# istio-field: ": &c.field, "# apiserver-cause: ": &c.cause}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			for prefix, dst := range headers {
				if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
					*dst = v
				}
			}
		}
		for prefix, dst := range headers {
			if *dst == "" {
				t.Fatalf("%s: missing header line %q", path, prefix+"...")
			}
		}
		if !strings.HasSuffix(c.cause, c.message) {
			t.Fatalf("%s: apiserver-cause %q does not end with istio-message %q", path, c.cause, c.message)
		}
		obj := map[string]any{}
		if err := yaml.UnmarshalStrict(data, &obj); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		c.object = &unstructured.Unstructured{Object: obj}
		cases = append(cases, c)
	}
	return cases
}

func TestInvalidPeerAuthenticationsRejected(t *testing.T) {
	env := envtestenv.Shared(t)
	cases := readInvalidCases(t)

	// The messages Istio's CRDs define for PeerAuthentication (istio.io/api
	// security/v1beta1/peer_authentication.proto, type/v1beta1/selector.proto); each must be covered.
	required := []string{
		"portLevelMtls requires selector",
		"should have at least 1 properties",
		"port must be between 1-65535",
		"wildcard not allowed in label value match",
		"wildcard not allowed in label key match",
	}
	for _, msg := range required {
		if !slices.ContainsFunc(cases, func(c invalidCase) bool { return c.message == msg }) {
			t.Errorf("no file in %s expects %q", invalidDir, msg)
		}
	}

	kube := kubernetes.NewForConfigOrDie(env.Config)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	plural := map[schema.GroupKind]string{}
	for _, crd := range env.IstioCRDs {
		plural[schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}] = crd.Spec.Names.Plural
	}

	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.file, ".yaml"), func(t *testing.T) {
			ctx := testContext(t)
			gvk := c.object.GroupVersionKind()
			resource, ok := plural[gvk.GroupKind()]
			if !ok {
				t.Fatalf("%s: %s is not an Istio CRD kind", c.file, gvk)
			}
			gvr := gvk.GroupVersion().WithResource(resource)
			ns := c.object.GetNamespace()
			ensureNamespace(ctx, t, kube, ns)

			// The file's exact content goes to the apiserver: a typed client would drop an empty
			// portLevelMtls map before the CRD could reject it.
			_, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, c.object, metav1.CreateOptions{})
			if err == nil {
				t.Fatalf("%s was accepted, want rejection %q", c.file, c.message)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error = %v, want 422 Invalid", err)
			}
			var status apierrors.APIStatus
			if !errors.As(err, &status) || status.Status().Details == nil {
				t.Fatalf("error %v carries no status details", err)
			}
			want := metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: c.field, Message: c.cause}
			if causes := status.Status().Details.Causes; len(causes) != 1 || causes[0] != want {
				t.Errorf("causes = %+v, want exactly %+v", causes, want)
			}
			// The one line kubectl prints (k8s.io/apimachinery pkg/api/errors NewInvalid).
			wantErr := fmt.Sprintf("%s.%s %q is invalid: %s: %s", gvk.Kind, gvk.Group, c.object.GetName(), c.field, c.cause)
			if err.Error() != wantErr {
				t.Errorf("error = %q, want %q", err.Error(), wantErr)
			}
			// Rejected means nothing was stored.
			if _, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, c.object.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("get after rejection: err = %v, want NotFound", err)
			}
		})
	}
}

func TestServerReportsPinnedVersion(t *testing.T) {
	env := envtestenv.Shared(t)
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dc.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if info.GitVersion != wantGitVersion || info.Major != wantMajor || info.Minor != wantMinor {
		t.Fatalf("server version = %s (major %q, minor %q), want %s (major %q, minor %q)",
			info.GitVersion, info.Major, info.Minor, wantGitVersion, wantMajor, wantMinor)
	}
	// kubectl's version skew check parses the server's gitVersion this way
	// (k8s.io/kubectl pkg/cmd/version/skew_warning.go).
	semver, err := utilversion.ParseSemantic(info.GitVersion)
	if err != nil {
		t.Fatalf("kubectl cannot parse server version %q: %v", info.GitVersion, err)
	}
	if semver.Major() != 1 || semver.Minor() != 37 || semver.Patch() != 2 {
		t.Errorf("parsed server version = %s, want 1.37.2", semver)
	}
	// Helm derives .Capabilities.KubeVersion this way (helm.sh/helm/v4 pkg/action/action.go
	// getCapabilities, pkg/chart/common/capabilities.go).
	kv, err := common.ParseKubeVersion(info.GitVersion)
	if err != nil {
		t.Fatalf("Helm cannot parse server version %q: %v", info.GitVersion, err)
	}
	if kv.String() != wantGitVersion || kv.Major != wantMajor || kv.Minor != wantMinor {
		t.Errorf("Helm KubeVersion = %s (major %q, minor %q), want %s", kv.String(), kv.Major, kv.Minor, wantGitVersion)
	}
}

func TestKubectlVersion(t *testing.T) {
	env := envtestenv.Shared(t)
	kubectl := filepath.Join(env.BinaryDir, "kubectl")
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(testContext(t), kubectl, "version", "--output=json", "--kubeconfig="+env.Kubeconfig)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl version: %v\n%s", err, stderr.String())
	}
	var out struct {
		ClientVersion struct{ GitVersion, Major, Minor string }
		ServerVersion struct{ GitVersion, Major, Minor string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("kubectl version output %q: %v", stdout.String(), err)
	}
	if out.ServerVersion.GitVersion != wantGitVersion || out.ServerVersion.Major != wantMajor || out.ServerVersion.Minor != wantMinor {
		t.Errorf("kubectl serverVersion = %+v, want %s", out.ServerVersion, wantGitVersion)
	}
	if out.ClientVersion.GitVersion != wantGitVersion {
		t.Errorf("kubectl clientVersion = %+v, want %s", out.ClientVersion, wantGitVersion)
	}
	// kubectl prints a skew warning on stderr when it cannot parse or compare the versions.
	if s := stderr.String(); s != "" {
		t.Errorf("kubectl version stderr = %q, want empty", s)
	}
}
