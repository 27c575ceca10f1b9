//go:build e2e

package mtls

import (
	"fmt"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios/oracle"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/mesh"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/report"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/wire"
	"github.com/mtls-conformance/mtls-conformance/suites/suitekit"
)

// On the wire: at the baseline (every scenario has been reset to it), every HTTP probe and every
// TCP probe runs once with a canary while tcpdump captures the server node's traffic
// (suites/framework/wire). Expectations come from the oracle (PredictWire, PredictTCP) and agree
// with the outcome classes: mTLS is TLS on the wire, plaintext shows the canary. The sanity pair
// comes first, as cilium's encryption test does: a cell expected plaintext must show its canary,
// so a capture that sees nothing can never make every cell look encrypted.
var _ = Describe("On the wire [wire]", Ordered, ContinueOnFailure, Serial, Label("wire"), func() {
	topo := suite.Topology()
	in := oracle.Input{Topology: topo, TrustDomain: suite.Settings.TrustDomain}
	httpWire, err := oracle.PredictWire(in)
	if err != nil {
		panic(err)
	}
	tcpWire, err := oracle.PredictTCP(in)
	if err != nil {
		panic(err)
	}
	type cell struct {
		req    wire.Request
		expect oracle.WireOutcome
	}
	var cells []cell
	add := func(o oracle.WireOutcome, tcp bool) {
		client, _ := topo.Workload(o.Probe.From)
		svc, _ := topo.Service(o.Probe.To)
		ports := svc.Ports
		if tcp {
			ports = svc.TCPPorts
		}
		sp := ports[slices.IndexFunc(ports, func(p fixtures.ServicePort) bool { return p.Port == o.Probe.Port })]
		cells = append(cells, cell{req: wire.Request{Client: client, Service: svc.Ref, Port: sp.Port, TargetPort: sp.TargetPort, TCP: tcp}, expect: o})
	}
	for _, o := range httpWire {
		add(o, false)
	}
	for _, o := range tcpWire {
		add(o, true)
	}
	// The sanity cell: a client without sidecar to a server without sidecar is plaintext in every
	// topology the suite runs (the oracle says so; the spec fails if it does not).
	sanity := slices.IndexFunc(cells, func(c cell) bool {
		return !c.req.TCP && c.expect.Wire == oracle.WirePlaintext && c.req.Client.Namespace == "legacy" && c.req.Service.Namespace == "legacy"
	})

	var results []wire.Result
	var skipReason string
	BeforeAll(func(ctx SpecContext) {
		if err := suite.Settings.CaptureAllowed(); err != nil {
			skipReason = err.Error()
			Skip(err.Error())
		}
		image, err := suite.Settings.CaptureImageRef()
		Expect(err).NotTo(HaveOccurred())
		Expect(suite.World.LoadImages(ctx, []string{image})).To(Succeed())
		capturer, err := wire.NewCapturer(suite.World.Config, image, map[string]string{mesh.ManagedByLabel: mesh.ManagedByValue, mesh.RunIDLabel: suite.World.Deployer.RunID()})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx SpecContext) { Expect(capturer.Close(ctx)).To(Succeed()) }, NodeTimeout(suitekit.TeardownTimeout))
		reqs := make([]wire.Request, len(cells))
		for i, c := range cells {
			reqs[i] = c.req
		}
		results = wire.Run(ctx, capturer, suite.World.Exec, topo, reqs, suite.World.ProbeOptions().MaxTime)
	})

	It("sanity: a cell expected plaintext shows its canary on the wire (the capture sees the traffic)", func() {
		Expect(sanity).To(BeNumerically(">=", 0), "no cell from legacy to legacy is expected plaintext")
		r := results[sanity]
		Expect(r.Err).NotTo(HaveOccurred(), "%s: the capture is broken", r.Request)
		Expect(r.Verdict.Kind).To(Equal(wire.Plaintext), "%s: %s", r.Request, r.Verdict)
	})
	// A skipped BeforeAll (no ALLOW_CAPTURE) still lists every wire cell in results.json.
	AfterAll(func() {
		if results == nil && suite.Run != nil {
			for _, c := range cells {
				Expect(suite.Run.Record(report.WireSkipped(c.req, skipReason))).To(Succeed())
			}
		}
	})
	for i, c := range cells {
		name := fmt.Sprintf("%s crosses the wire as %s", c.req, c.expect.Wire)
		if c.req.TCP {
			name += map[bool]string{true: ", echo answers", false: ", no echo"}[c.expect.Echo]
		}
		It(name, func() {
			r := results[i]
			Expect(suite.Run.Record(report.FromWire(c.req, c.expect, r))).To(Succeed())
			AddReportEntry("wire", r.Verdict.String())
			AddReportEntry("exitCode", r.ExitCode)
			Expect(r.Err).NotTo(HaveOccurred(), "%s: infrastructure error, nothing judged", r.Request)
			want := wire.Plaintext
			if c.expect.Wire == oracle.WireTLS {
				want = wire.TLS
			}
			Expect(r.Verdict.Kind).To(Equal(want), "%s: %s", r.Request, r.Verdict)
			if want == wire.TLS && r.Verdict.Handshake {
				Expect(r.Verdict.IstioALPN()).To(BeTrue(), "%s: the ClientHello offers %q, not Istio's ALPN", r.Request, r.Verdict.ALPN)
			}
			if c.req.TCP {
				Expect(r.Echoed).To(Equal(c.expect.Echo), "%s: curl exit %d, output %q", r.Request, r.ExitCode, r.Output)
				if c.expect.Echo {
					// Istio's echo holds the connection: curl ends at --max-time with the echo.
					Expect(r.ExitCode).To(Equal(28), "%s: output %q", r.Request, r.Output)
				}
			}
		})
	}
})
