//go:build e2e

package mtls

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/mtls-conformance/mtls-conformance/fixtures"
	"github.com/mtls-conformance/mtls-conformance/scenarios"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/authcheck"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/probe"
	"github.com/mtls-conformance/mtls-conformance/suites/framework/world"
)

// describeListeners asserts, at one scenario step, every sidecar server port's inbound mode as
// its own Envoy configuration states it (seed 002's `istioctl exp auth check` column
// "mTLS (MODE)"), then cross-checks it with the traffic the step observed: a listener that says
// STRICT while plaintext got a 200 is a disagreement, a failure of its own.
func describeListeners(s *scenarios.Scenario, i int, expect []scenarios.ProbeOutcome, results *map[scenarios.Probe]*probe.Result) {
	topo := suite.Topology()
	expected, err := world.ListenerExpectations(topo, s, i)
	if err != nil {
		panic(err)
	}
	seen := world.ListenerModes{}
	for _, le := range expected {
		It(fmt.Sprintf("%s inbound :%d is %s (listener)", le.Server.Ref, le.Port, le.Mode), Label("listener"), func(ctx SpecContext) {
			// Istio pushes listeners asynchronously: converge on consecutive observations.
			Eventually(func(g Gomega) {
				dump, err := suite.World.WorkloadDump(ctx, le.Server)
				g.Expect(err).NotTo(HaveOccurred())
				in, err := dump.Inbound(le.Port)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(in.Mode).To(Equal(le.Mode), "inbound port %d: mTLS=%v plaintext=%v client cert required=%v", le.Port, in.AcceptsMTLS, in.AcceptsPlaintext, in.RequiresClientCert)
			}).WithContext(ctx).WithTimeout(suite.Settings.Timeout).WithPolling(time.Second).MustPassRepeatedly(suite.Settings.Consecutive).Should(Succeed())
			seen.Saw(le.Server.Ref, le.Port, le.Mode)
		})
	}
	It("shows no disagreement between traffic and listener modes", Label("listener"), func() {
		if *results == nil {
			Skip("the step was not applied (see its BeforeAll)")
		}
		Expect(world.CrossCheckListeners(topo, s, i, expect, *results, seen)).To(BeEmpty())
	})
}

var _ = Describe("Workload certificates", Serial, Label("listener", "certificate"), func() {
	topo := suite.Topology()
	for _, wl := range append(append([]fixtures.Workload{}, topo.Clients...), topo.Servers...) {
		ns, _ := topo.Namespace(wl.Namespace)
		if !ns.Injected() {
			continue
		}
		want := fixtures.SPIFFEID(suite.Settings.TrustDomain, wl.Namespace, wl.ServiceAccount)
		It(fmt.Sprintf("%s presents %s, issued for at most %s", wl.Ref, want, suite.Settings.CertTTL), func(ctx SpecContext) {
			dump, err := suite.World.WorkloadDump(ctx, wl)
			Expect(err).NotTo(HaveOccurred())
			cert, err := dump.WorkloadCertificate()
			Expect(err).NotTo(HaveOccurred())
			Expect(authcheck.CheckCertificate(cert, want, suite.Settings.CertTTL)).To(Succeed())
		})
	}
})

// The XFCC Hash is checked against the client sidecar's actual certificate, not merely for its
// shape: Envoy writes the SHA-256 of the peer certificate (envoy conn_manager_utility.cc).
var _ = Describe("XFCC hash", Serial, Label("xfcc", "certificate"), func() {
	topo := suite.Topology()
	p := scenarios.Probe{From: fixtures.Ref{Name: "sleep", Namespace: "foo"}, To: fixtures.Ref{Name: "httpbin", Namespace: "bar"}, Port: 8000}
	from, _ := topo.Namespace(p.From.Namespace)
	to, _ := topo.Namespace(p.To.Namespace)
	It(fmt.Sprintf("%s: Hash is the SHA-256 of sleep.foo's sidecar certificate", p), func(ctx SpecContext) {
		if !from.Injected() || !to.Injected() {
			// INJECT left one of them without a sidecar, or the data plane is ambient (no sidecar
			// anywhere, no XFCC at L4): no certificate to hash.
			Skip(fmt.Sprintf("needs sidecars in %s and %s; the run's topology: %s", p.From.Namespace, p.To.Namespace, world.TopologyText(suite.Settings)))
		}
		target, err := probe.TargetFor(topo, p)
		Expect(err).NotTo(HaveOccurred())
		client, _ := topo.Workload(p.From)
		// A rotation between the two reads changes the hash: converge like any other probe.
		Eventually(func(g Gomega) {
			// One bounded exec, as Converge bounds each attempt.
			once, cancel := context.WithTimeout(ctx, probe.DefaultMaxTime+probe.DefaultExecGrace)
			defer cancel()
			obs := probe.Once(once, suite.World.Exec, target, suite.World.ProbeOptions())
			g.Expect(obs.Err).NotTo(HaveOccurred())
			g.Expect(obs.XFCCElements).To(HaveLen(1), "XFCC %v", obs.XFCC)
			dump, err := suite.World.WorkloadDump(ctx, client)
			g.Expect(err).NotTo(HaveOccurred())
			cert, err := dump.WorkloadCertificate()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(obs.XFCCElements[0].Hash).To(Equal(cert.SHA256))
		}).WithContext(ctx).WithTimeout(suite.Settings.Timeout).WithPolling(time.Second).Should(Succeed())
	})
})
