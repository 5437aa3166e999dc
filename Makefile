# floppies-installer: `make` builds the production installer, `make test` runs every test.
# Knobs (make VAR=value):
VERSION        ?= 0.1.0
ARCH           ?= x86_64
ZSTD_LEVEL     ?= 12
# The two parts bundles' level (test files that never leave this machine,
# packed twice per build: their time counts, their size hardly).
PARTS_ZSTD_LEVEL ?= 3
FLOPPIES_CACHE ?= $(HOME)/.cache/floppies
OFFLINE        ?= 0
# Of the upstream parts, only these binaries (names; default: all 20).
ONLY           ?=
# 1: refuse any upstream artifact whose sha256 or digest is null in
# airgap/pins.json (release builds); 0: resolve it now and record that.
STRICT_PINS    ?= 0

RUST_TARGET := x86_64-unknown-linux-gnu
CARGO       := cargo
# Static, and free of build-machine paths so the same sources give the same bytes anywhere.
RUSTFLAGS_STATIC := -C target-feature=+crt-static --remap-path-prefix=$(CURDIR)=/floppies \
                    --remap-path-prefix=$(or $(CARGO_HOME),$(HOME)/.cargo)=/cargo
TARGET_DIR  ?= $(CURDIR)/target
RELEASE_DIR := $(TARGET_DIR)/$(RUST_TARGET)/release
HELPER      := $(RELEASE_DIR)/floppies
BUILD_TOOL  := $(RELEASE_DIR)/floppies-build

export VERSION ARCH ZSTD_LEVEL FLOPPIES_CACHE OFFLINE STRICT_PINS HELPER BUILD_TOOL

.PHONY: all prod update release prereqs network-check test-bundle test-bundle-parts helper upstream parts-images test test-deps test-vm test-vm-all test-vm-servers test-vm-parts test-with-parts fuzz bench bench-report pin clean

all: prod

## The production installer from upstream artifacts: pinned ones as pinned,
## null pins resolved now from the release's checksum file or the registry.
prod: network-check helper
	build/bundle prod

## An update file from FROM (the full installer of the release on the customer's
## host) to this build, carrying only what changed:
## dist/floppies-installer-VERSION-from-OLDVERSION.run (docs/operations.md, "Update files").
ifneq ($(filter update,$(MAKECMDGOALS)),)
ifeq ($(FROM),)
$(error make update needs FROM=the full installer file of the release the customer has installed)
endif
endif
update: prod
	build/bundle update "$(FROM)" dist/floppies-installer.run

## Before anything is compiled: does any upstream host the pins name answer?
## (none: fail at once, naming each; OFFLINE=1 skips it)
network-check: prereqs
	build/check-network $(or $(PINS),airgap/pins.json) $(ARCH)

## A release: the same, but every artifact must be pinned in airgap/pins.json.
release:
	$(MAKE) STRICT_PINS=1 prod

## Everything the build needs, checked at once before anything is compiled
## (as root on Debian/Ubuntu, missing apt packages are installed).
prereqs:
	build/check-prereqs

## The test installer, built offline from stand-ins (never a release), an
## older-version one the VM upgrade scenario starts from, and a rebuild of the
## same version with other content (VM scenario 13), and an update file from the
## older one to this one (VM scenario 14).
TEST_UPDATE := out/update/floppies-installer-$(VERSION)-test-from-0.0.1-test.run
test-bundle: dist/floppies-installer-test.run out/previous/floppies-installer-test.run \
		out/rebuilt/floppies-installer-test.run $(TEST_UPDATE)

$(TEST_UPDATE): dist/floppies-installer-test.run out/previous/floppies-installer-test.run
	rm -f out/update/floppies-installer-*-from-*.run*
	OUT_DIR=$(CURDIR)/out/update-build DIST_DIR=$(CURDIR)/out/update \
		build/bundle update out/previous/floppies-installer-test.run dist/floppies-installer-test.run

out/previous/floppies-installer-test.run: dist/floppies-installer-test.run
	VERSION=0.0.1 OUT_DIR=$(CURDIR)/out/previous-build DIST_DIR=$(CURDIR)/out/previous build/bundle test

out/rebuilt/floppies-installer-test.run: dist/floppies-installer-test.run $(wildcard test-vm/stand-ins/content-rebuilt/*)
	CONTENT_DIR=$(CURDIR)/test-vm/stand-ins/content-rebuilt OUT_DIR=$(CURDIR)/out/rebuilt-build \
		DIST_DIR=$(CURDIR)/out/rebuilt build/bundle test

dist/floppies-installer-test.run: helper stub.sh build/bundle airgap/test.json airgap/pins.json \
		$(shell find charts test-vm/stand-ins -type f 2>/dev/null)
	build/bundle test

# Always asks cargo, which knows when sources or RUSTFLAGS changed (timestamps would not).
# Two invocations: built alone, the shipped helper gets none of the build tool's features.
helper: prereqs
	RUSTFLAGS="$(RUSTFLAGS_STATIC)" $(CARGO) build --release --locked -p floppies \
		--target $(RUST_TARGET) --target-dir "$(TARGET_DIR)"
	RUSTFLAGS="$(RUSTFLAGS_STATIC)" $(CARGO) build --release --locked -p floppies-build \
		--target $(RUST_TARGET) --target-dir "$(TARGET_DIR)"

## The upstream parts (Kubernetes v1.35.8, kine, containerd, Helm 3, MinIO, mc, ...)
## built from the Go module proxy into out/upstream/bin, listed in
## out/upstream/manifest.json (upstream/README.md). Needs Go; a no-op when nothing changed.
## ONLY=names builds just those binaries (upstream/README.md).
upstream:
	ONLY="$(ONLY)" upstream/build

## Test images made of those parts (MinIO, pause, CoreDNS, a klipper-helm-compatible
## image, the s3www stand-in) into out/upstream/images (upstream/README.md). A no-op
## when nothing changed.
parts-images: upstream helper
	FLOPPIES_BUILD=$(BUILD_TOOL) upstream/images

## The test installer on real parts (test level K): the k3s made of the parts
## (test-vm/stand-ins/k3s-parts) and the images of parts-images, and an
## older-version one of the same parts that VM scenario 22 upgrades from (built
## second, through the same scratch dir: its inputs are the same). Never a release.
## Packed at PARTS_ZSTD_LEVEL.
PARTS_PREVIOUS := out/previous-parts/floppies-installer-parts.run
test-bundle-parts: parts-images
	ZSTD_LEVEL=$(PARTS_ZSTD_LEVEL) build/bundle parts
	ZSTD_LEVEL=$(PARTS_ZSTD_LEVEL) VERSION=0.0.1 DIST_DIR=$(CURDIR)/out/previous-parts build/bundle parts

## Installs what the tests need (apt, pip, cargo; as root), then runs every suite.
## Of the parts, only what its suites run (tests/parts/run, the images, Helm 3 in
## the chart suite, actionlint); level K (test-vm-parts below) is not part of it:
## a clean clone's make test with it took 76 minutes here (4562 s, every check
## passing, level K beside level S), over its 60.
test: ONLY = kine kube-apiserver kube-controller-manager kubectl helm coredns minio mc actionlint
test: test-deps test-bundle upstream parts-images
	tests/run

## make test and level K: tests/run builds the parts bundles at nice 19 and runs
## vm-parts beside vm (which then leaves out 01, 02 and 12); 76 minutes here.
test-with-parts: test-deps test-bundle upstream parts-images
	PARTS_BUNDLES='$(MAKE) --no-print-directory test-bundle-parts ONLY=' tests/run lint unit build stub host chart parts registry bench docs vm vm-parts

test-deps:
	tests/install-deps

## The throwaway-VM scenarios alone.
test-vm: test-deps test-bundle
	test-vm/run

## Every VM scenario, those make test leaves out for its time budget too
## (09, 10, 13, 14, 15 and 21: test-vm/README.md; 22 skips: it needs the parts bundle).
test-vm-all: test-deps test-bundle
	test-vm/run --all

## VM scenario 21: three servers on embedded etcd (the stand-in's), three
## guests; run on request, not by make test (test-vm/README.md).
test-vm-servers: test-deps test-bundle
	test-vm/run 21

## The VM scenarios on the k3s made of real parts (level K): scenario 22, which
## chains 01, 02, 06, 11 and 12 in one guest (tests/run's suite vm-parts), or
## those named in PARTS_SCENARIOS. Not part of make test: 943 s alone here for 22
## (test-vm/stand-ins/k3s-parts/README.md).
PARTS_SCENARIOS ?= 22
test-vm-parts: test-deps test-bundle-parts
	test-vm/run --bundle dist/floppies-installer-parts.run --previous $(PARTS_PREVIOUS) $(PARTS_SCENARIOS)

## Every cargo-fuzz target (fuzz/) for FUZZ_SECONDS each (default 60), on the stable
## toolchain with the sanitizer none; names what is missing and fails if it cannot.
## Not part of make test.
fuzz:
	fuzz/run

## Resolve image tags and k3s checksums and write them into airgap/pins.json (needs internet; review the diff).
pin: helper
	$(BUILD_TOOL) pin --pins airgap/pins.json

## Measure verify + extract against makeself and the zstd|tar floor (bench/results/latest.json),
## on the parts of make upstream when they are built (UPSTREAM_DIR=out/upstream), else on /usr files.
## Then the sizes of update files for a content, a chart and an image layer change (bench/results/update.json).
bench: helper
	bench/run
	bench/update

## Print the table of bench/results/latest.json and plot its rounds (bench/results/latest.png).
bench-report:
	build/ensure-venv out/venv-bench bench/requirements.txt
	out/venv-bench/bin/python bench/report

clean:
	rm -rf out dist target fuzz/target
