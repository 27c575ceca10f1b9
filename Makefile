# mtls-conformance. `make test` needs only Go (and curl); `make conformance` needs Docker or
# Podman (CLUSTER=kind) or a cluster (CLUSTER=existing).
SHELL := /bin/bash
GO ?= go
PKGS := ./...

.PHONY: test lint vet fmt-check unit
test: vet unit ## everything that runs without a container runtime

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -count=1 $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

lint: fmt-check vet
