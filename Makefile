# mtls-conformance. `make` (or `make help`) lists every target; each target's line ends with
# "## what it does", which is what help prints.
# Settings are environment variables with the names the suite's flags use (see README).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go
GINKGO := $(GO) tool ginkgo
ACTIONLINT := $(GO) tool actionlint

# The one versions file (versions/versions.yaml), rendered for Make. Every pin comes from there.
.cache/versions.mk: versions/versions.yaml versions/versions.go
	@mkdir -p .cache
	@$(GO) run ./tools/conformance versions --make > $@.tmp && mv $@.tmp $@
include .cache/versions.mk

CLUSTER ?= kind
LABEL_FILTER ?=
KEEP_CLUSTER ?=
REPORTS_DIR ?= reports
# ISTIO_VERSION reaches the suite only when the user sets it: its versions.mk default would make an
# existing cluster "wrong" for running any other Istio.
export CLUSTER KEEP_CLUSTER REPORTS_DIR

.PHONY: help test lint fmt-check vet actionlint unit kubebin istiogen-test list conformance upgrade clean
.DEFAULT_GOAL := help

help: ## list every target and what it does (the default goal)
	@echo 'usage: make TARGET [SETTING=VALUE ...]   (settings: README.md, "Settings")'
	@awk -F ':.*## ' '/^[A-Za-z0-9_-]+:.*## / {printf "  make %-14s %s\n", $$1, $$2}' $(firstword $(MAKEFILE_LIST))

## ---- checks that need no container runtime --------------------------------------------------

test: lint unit istiogen-test list ## everything that runs without a container runtime (what CI runs)

lint: fmt-check vet actionlint ## gofmt, go vet and actionlint

fmt-check: ## every Go file is gofmt-formatted
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

vet: ## go vet, with and without the e2e and localcluster build tags
	$(GO) vet ./...
	$(GO) vet -tags e2e ./suites/...
	$(GO) vet -tags localcluster ./suites/localcluster/
	$(GO) vet -tags localupgrade ./suites/localcluster/

actionlint: ## lint the GitHub workflows
	$(ACTIONLINT) -color=false

# The real kube-apiserver, etcd and kubectl for the envtest tier, built from their Go modules
# (tools/kubebin; ~10 min cold on 2 cores, cached in .cache/kubebin/).
kubebin: ## build the real kube-apiserver, etcd and kubectl for the envtest tier
	GO=$(GO) tools/kubebin/build.sh

# Unit tests plus the real-apiserver tier: MTLS_REQUIRE_ENVTEST makes a missing binary a failure,
# not a skip; a failed build stops here.
unit: ## unit tests and the real kube-apiserver tier (MTLS_REQUIRE_ENVTEST=1)
	assets=$$(GO=$(GO) tools/kubebin/build.sh) && KUBEBUILDER_ASSETS="$$assets" MTLS_REQUIRE_ENVTEST=1 $(GO) test -count=1 -timeout=30m ./...

# The oracle checked against Istio's own config generator (nested module, never in go.mod).
istiogen-test: ## the oracle checked against Istio's own config generator (tools/istiogen)
	cd tools/istiogen && $(GO) vet ./... && $(GO) test -count=1 -timeout=30m ./...

# Every spec of the e2e suites with its labels, without a cluster.
list: ## every spec of the e2e suites with its labels (Ginkgo dry run, no cluster)
	$(GINKGO) --dry-run -v --no-color --tags e2e ./suites/mtls ./suites/upgrade

## ---- the suite ------------------------------------------------------------------------------

# The preflight answers in seconds, before the suite is even compiled: bad input (a setting, a
# version, a kubeconfig that is not there) is one line and exit 2 and creates nothing; no container
# runtime or an unreachable cluster is one line and REPORTS_DIR/preflight/junit.xml naming it. The
# suite writes junit.xml, results.json and summary.md into reports/<run-id>/ itself (reports/latest).
conformance: ## run the suite on kind (Docker or Podman) or CLUSTER=existing; reports in REPORTS_DIR/<run>/
	@$(GO) build -o .cache/bin/conformance ./tools/conformance && .cache/bin/conformance preflight
	$(GINKGO) --tags e2e -v --no-color --timeout=2h \
		$(if $(LABEL_FILTER),--label-filter='$(LABEL_FILTER)') \
		./suites/mtls

# Defaults: N-1 -> N of versions/versions.yaml, in place. The same preflight, with FROM, TO and
# MODE checked as the upgrade suite checks them.
UPGRADE_FLAGS = $(if $(FROM),--from='$(FROM)') $(if $(TO),--to='$(TO)') $(if $(MODE),--mode='$(MODE)')
upgrade: ## the upgrade verification suite: FROM=1.31.4 TO=1.32.0 MODE=inplace|canary (default N-1 -> N, in place)
	@$(GO) build -o .cache/bin/conformance ./tools/conformance && .cache/bin/conformance preflight upgrade $(UPGRADE_FLAGS)
	$(GINKGO) --tags e2e -v --no-color --timeout=3h \
		./suites/upgrade -- $(UPGRADE_FLAGS)

clean: ## delete the kind cluster and the generated reports
	-$(GO) run ./tools/conformance cluster delete --name $(or $(CLUSTER_NAME),mtls-conformance)
	find $(REPORTS_DIR) -mindepth 1 ! -name README.md -exec rm -rf {} +

## ---- the local kind tier (a container runtime; everything built here) ----------------------

# Images built here from Go modules and Debian packages (tools/localimages/build.sh; cached in
# .cache/localimages, rebuilt when a pin changes). Its stdout is the suite settings selecting them.
.cache/localimages/settings.env: FORCE
	@mkdir -p .cache/localimages
	GO=$(GO) tools/localimages/build.sh > $@.tmp && mv $@.tmp $@

kind-images: .cache/localimages/settings.env ## build the kind node, istiod and fixture images locally (Docker, debootstrap, root)
	@cat $<

# The project's own cluster, Istio and fixture code on a real kind cluster from the local images.
# No Envoy exists here, so no namespace is injected (INJECT=none).
test-kind: .cache/localimages/settings.env ## create a kind cluster from the local images, install Istio, deploy the fixtures and check them for real
	set -a && . ./.cache/localimages/settings.env && set +a && \
	CLUSTER=kind CLUSTER_NAME=mtls-local LOAD_IMAGES=1 INJECT=none KIND_CONFIG_PATCH=$(CURDIR)/tools/localimages/kind-config.yaml \
	KEEP_CLUSTER= REUSE_CLUSTER= $(GO) test -tags localcluster -count=1 -timeout=40m -v ./suites/localcluster/

# The mtls suite itself (make conformance) on a local kind cluster: every scenario applied through
# the real apiserver and istiod, every probe through the real kubelet; no sidecars here (INJECT=none),
# so the expectations come from the oracle for that topology.
test-kind-suite: .cache/localimages/settings.env ## make conformance on a local kind cluster from the local images (INJECT=none)
	set -a && . ./.cache/localimages/settings.env && set +a && \
	CLUSTER=kind CLUSTER_NAME=mtls-local-suite LOAD_IMAGES=1 INJECT=none KIND_CONFIG_PATCH=$(CURDIR)/tools/localimages/kind-config.yaml \
	KEEP_CLUSTER= REUSE_CLUSTER= $(MAKE) --no-print-directory conformance

# The upgrade suite (make upgrade) on local kind clusters, in place and as a canary. One istiod is
# built here (the pinned source), so the upgrade goes from it to the same build under a second tag,
# <ISTIO_TAG>-upgrade (UPGRADE_TO_TAG; FROM = TO = ISTIO_VERSION). No sidecars (INJECT=none): the
# control-plane steps run, each followed by the proof that the new istiod serves; data-plane
# specs are skipped with the reason. suites/localcluster (tag localupgrade) checks the reports.
test-kind-upgrade: .cache/localimages/settings.env ## the upgrade suite (make upgrade) on local kind clusters, in place and canary, istiod <tag> -> <tag>-upgrade (INJECT=none)
	set -a && . ./.cache/localimages/settings.env && set +a && \
	docker tag "$$ISTIO_HUB/pilot:$$ISTIO_TAG" "$$ISTIO_HUB/pilot:$$ISTIO_TAG-upgrade" && \
	UPGRADE_TO_TAG=$$ISTIO_TAG-upgrade CLUSTER_NAME=mtls-local-upgrade KIND_CONFIG_PATCH=$(CURDIR)/tools/localimages/kind-config.yaml \
	$(GO) test -tags localupgrade -count=1 -timeout=40m -v -run '^TestUpgradeSuite$$' ./suites/localcluster/

.PHONY: FORCE kind-images test-kind test-kind-suite test-kind-upgrade
FORCE:

## ---- extras ---------------------------------------------------------------------------------

.PHONY: fuzz bench bench-kind
fuzz: ## explore the XFCC parser beyond its seed corpus (FUZZTIME=60s)
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$${FUZZTIME:-60s} ./suites/framework/xfcc

bench: ## wall time of the 36-probe matrix vs one probe (100 ms simulated exec)
	$(GO) test -run='^$$' -bench=Matrix -benchtime=1x ./suites/framework/probe

# The same through a real kubelet: a local kind cluster (as make test-kind builds it), one exec's
# round trip, one probe converged, and the 36-probe matrix with at most 1, 8 and 36 execs at once
# (the engine runs one exec per client and round: 4 here).
bench-kind: .cache/localimages/settings.env ## one exec and the 36-probe matrix (at most 1, 8, 36 execs at once) vs one probe through a real kubelet (local kind)
	set -a && . ./.cache/localimages/settings.env && set +a && \
	CLUSTER=kind CLUSTER_NAME=mtls-local-bench LOAD_IMAGES=1 INJECT=none KIND_CONFIG_PATCH=$(CURDIR)/tools/localimages/kind-config.yaml \
	KEEP_CLUSTER= REUSE_CLUSTER= $(GO) test -tags localcluster -count=1 -timeout=30m -run='^$$' -bench=KubeletExec -benchtime=1x -v ./suites/localcluster/
