# floppies-installer: `make` builds the production installer, `make test` runs every test.
# Knobs (make VAR=value):
VERSION        ?= 0.1.0
ARCH           ?= x86_64
ZSTD_LEVEL     ?= 12
FLOPPIES_CACHE ?= $(HOME)/.cache/floppies
OFFLINE        ?= 0

RUST_TARGET := x86_64-unknown-linux-gnu
CARGO       := cargo
# Static, and free of build-machine paths so the same sources give the same bytes anywhere.
RUSTFLAGS_STATIC := -C target-feature=+crt-static --remap-path-prefix=$(CURDIR)=/floppies \
                    --remap-path-prefix=$(or $(CARGO_HOME),$(HOME)/.cargo)=/cargo
TARGET_DIR  ?= $(CURDIR)/helper/target
RELEASE_DIR := $(TARGET_DIR)/$(RUST_TARGET)/release
HELPER      := $(RELEASE_DIR)/floppies
BUILD_TOOL  := $(RELEASE_DIR)/floppies-build

export VERSION ARCH ZSTD_LEVEL FLOPPIES_CACHE OFFLINE HELPER BUILD_TOOL

.PHONY: all prod test-bundle helper test test-deps test-vm bench bench-report pin clean

all: prod

## The production installer, from the pinned upstream artifacts (needs them fetched or cached).
prod: helper
	build/bundle prod

## The test installer, built offline from stand-ins (never a release), an
## older-version one the VM upgrade scenario starts from, and a rebuild of the
## same version with other content (VM scenario 13).
test-bundle: dist/floppies-installer-test.run out/previous/floppies-installer-test.run \
		out/rebuilt/floppies-installer-test.run

out/previous/floppies-installer-test.run: dist/floppies-installer-test.run
	VERSION=0.0.1 OUT_DIR=$(CURDIR)/out/previous-build DIST_DIR=$(CURDIR)/out/previous build/bundle test

out/rebuilt/floppies-installer-test.run: dist/floppies-installer-test.run $(wildcard test-vm/stand-ins/content-rebuilt/*)
	CONTENT_DIR=$(CURDIR)/test-vm/stand-ins/content-rebuilt OUT_DIR=$(CURDIR)/out/rebuilt-build \
		DIST_DIR=$(CURDIR)/out/rebuilt build/bundle test

dist/floppies-installer-test.run: helper stub.sh build/bundle airgap/test.json airgap/pins.json \
		$(shell find charts test-vm/stand-ins -type f 2>/dev/null)
	build/bundle test

# Always asks cargo, which knows when sources or RUSTFLAGS changed (timestamps would not).
helper:
	cd helper && RUSTFLAGS="$(RUSTFLAGS_STATIC)" $(CARGO) build --release --locked \
		--target $(RUST_TARGET) --target-dir "$(TARGET_DIR)"

## Installs what the tests need (apt, pip, cargo; as root), then runs every suite.
test: test-deps test-bundle
	tests/run

test-deps:
	tests/install-deps

## The throwaway-VM scenarios alone.
test-vm: test-deps test-bundle
	test-vm/run

## Resolve image tags and k3s checksums and write them into airgap/pins.json (needs internet; review the diff).
pin: helper
	$(BUILD_TOOL) pin --pins airgap/pins.json

## Measure verify + extract against makeself and the zstd|tar floor (bench/results/latest.json),
## on the parts of make upstream when they are built (UPSTREAM_DIR=out/upstream), else on /usr files.
bench: helper
	bench/run

## Print the table of bench/results/latest.json and plot its rounds (bench/results/latest.png).
bench-report:
	build/ensure-venv out/venv-bench bench/requirements.txt
	out/venv-bench/bin/python bench/report

clean:
	rm -rf out dist helper/target
