# postgres-reconciler — the commands the README documents.
SHELL := /bin/bash
CARGO ?= cargo
# cargo-nextest runs every test in its own process; plain `cargo test` is the fallback.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)
ifeq ($(NEXTEST),yes)
TEST_BUILD := $(CARGO) nextest run --no-run
TEST_RUN := $(CARGO) nextest run --no-fail-fast
else
TEST_BUILD := $(CARGO) test --no-run
TEST_RUN := $(CARGO) test --no-fail-fast
endif

.PHONY: test test-here binaries up down build lint generate bench bench-live demo demo-down chaos image-oci release-check

## test: build or reuse the control plane binaries and the OCI image, start the local environment,
## run every test, stop it. The chaos suite's restarts (of the shared apiserver and PostgreSQL) run
## after the rest, alone.
test: binaries image-oci
	$(TEST_BUILD)
	tests/cluster/with-env bash -c '$(TEST_RUN); a=$$?; $(SERIAL_CHAOS); b=$$?; exit $$((a | b))'

SERIAL_CHAOS := $(CARGO) test --test chaos -- --ignored --test-threads=1

## chaos: the chaos suite at full size (CHAOS_TRIALS trials per test, default 30), alone on a fresh
## environment; its figures are printed (`chaos …` lines).
CHAOS_TRIALS ?= 30
chaos: binaries
	$(CARGO) test --no-run --test chaos
	CHAOS_TRIALS=$(CHAOS_TRIALS) tests/cluster/with-env $(CARGO) test --test chaos -- --include-ignored --test-threads=1 --nocapture

## demo: local control plane + PostgreSQL, the example manifests, plan, apply, status, run report;
## leaves the environment up (stop it with `make demo-down`).
demo: binaries
	tests/demo/run

demo-down:
	PGRENV_FILE=$(CURDIR)/target/pgr-demo/env tests/cluster/down

## test-here: run the tests against an environment already started with `make up`.
test-here:
	$(TEST_RUN)

## binaries: build (cold) or reuse (warm) kube-apiserver, etcd, controller-manager, scheduler, kwok, kubectl, helm.
binaries:
	tests/cluster/build

## up / down: start or stop the local environment by hand.
up:
	tests/cluster/up
down:
	tests/cluster/down

build:
	$(CARGO) build --release --locked --bin postgres-reconciler

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

## generate: regenerate the committed CRDs from src/api/ (a test fails when they drift).
generate:
	$(CARGO) run --quiet -- crds --out-dir manifests/crds
	$(CARGO) run --quiet -- crds --out-dir charts/postgres-reconciler/crds

## bench: figures for the pure stages (render of 1,000 manifests); timings live here, never in tests.
bench:
	$(CARGO) bench --bench render

## bench-live: the reconciler on its own local environment with N clusters (N=200|1000|5000, default
## 1000): the LIST floor, first apply vs `kubectl apply --server-side`, steady-state apply and plan
## with databases unreachable and reachable, Zalando's operator on 200 clusters; the table is
## printed and written to target/bench-live/N.md. Figures only, never assertions. BENCH_KEEP=1 leaves
## its environment up afterwards (for profiling a run against it).
N ?= 1000
bench-live: binaries
	$(CARGO) build --release
	BENCH_N=$(N) $(CARGO) bench --bench live

## image: build the container image from the Dockerfile (push it in your CI); IMAGE names it.
IMAGE ?= ghcr.io/postgres-reconciler/postgres-reconciler:$(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DOCKER ?= docker
.PHONY: image install-manifest
image:
	$(DOCKER) build -t $(IMAGE) .

## image-oci: the same image without a Docker engine, as a reproducible OCI archive (umoci from
## Debian): the release binary, the shared libraries it links, CA certificates, the non-root user.
## Prints its digest; push it with `skopeo copy oci-archive:$(IMAGE_OCI) docker://$(IMAGE)`.
IMAGE_OCI ?= target/image/postgres-reconciler.oci.tar
image-oci: build
	release/tools
	release/image-oci target/release/postgres-reconciler $(IMAGE_OCI)

## release-check: what the release pipeline relies on (versions, changelog, generated files, helm
## lint); RELEASE_TAG=vX.Y.Z also checks the tag. The release workflow runs exactly this.
release-check:
	RELEASE_TAG=$(RELEASE_TAG) release/check

## install-manifest: regenerate manifests/install.yaml from the chart (a test fails when it drifts).
install-manifest:
	tests/chart/render-install
