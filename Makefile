# berth: build, demo, tests. Run as root (containers need it).
CARGO ?= cargo
BERTH_RELEASE := target/release/berth
DEMO_BUNDLE := bundles/demo

.PHONY: all build deps demo test unit integration cgroupv2 engines conformance conformance-results bench clean

all: build

build:
	$(CARGO) build --release

# What the tests and the demo need from Debian: a static busybox for the rootfs,
# runc and crun as oracles for differential tests and the benchmark, hyperfine and
# GNU time for the benchmark, the engines for their scenarios, protoc for the CRI
# client's generated gRPC code.
DEBS := busybox-static runc crun hyperfine time containerd podman docker.io jq protobuf-compiler
deps:
	@if ! command -v runc >/dev/null || ! command -v crun >/dev/null || ! command -v hyperfine >/dev/null || ! command -v containerd >/dev/null || ! command -v podman >/dev/null || ! command -v dockerd >/dev/null || ! command -v jq >/dev/null || ! command -v protoc >/dev/null || ! [ -x /usr/bin/time ] || ! [ -x /bin/busybox ] || ! ldd /bin/busybox 2>&1 | grep -q 'not a dynamic'; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBS) >/dev/null; \
	fi

# Builds berth, makes a busybox bundle, runs a container from it in the foreground.
demo: deps build
	BERTH=$(BERTH_RELEASE) sh integration-tests/make-bundle.sh $(DEMO_BUNDLE)
	$(BERTH_RELEASE) --root /run/berth-demo run --bundle $(DEMO_BUNDLE) berth-demo-$$$$

# Unit tests, then integration tests (real containers, one at a time: each test's
# leak check looks at the whole host).
test: deps
	$(CARGO) build --bin berth
	$(CARGO) test --workspace --no-fail-fast -- --test-threads=1
	$(MAKE) cgroupv2
	$(MAKE) engines
	$(MAKE) conformance

# The cgroup v2 paths, in a QEMU guest whose only hierarchy is cgroup2 (about a minute;
# the first run downloads a Debian kernel package).
cgroupv2:
	$(CARGO) build --bin berth
	bash integration-tests/cgroupv2-vm/run.sh

unit:
	$(CARGO) test --lib

integration: deps
	$(CARGO) build --bin berth
	$(CARGO) test -p berth-integration-tests -- --test-threads=1

# Real engines driving berth with private configs and state (containerd through its runc
# shim and through its CRI plugin, podman, docker). ENGINE_RUNTIME=runc runs the same scenarios against runc, to check them.
ENGINE_RUNTIME ?= target/debug/berth
engines: deps
	$(CARGO) build --bin berth
	bash integration-tests/engines/containerd.sh $(ENGINE_RUNTIME)
	bash integration-tests/engines/cri.sh $(ENGINE_RUNTIME)
	bash integration-tests/engines/podman.sh $(ENGINE_RUNTIME)
	bash integration-tests/engines/docker.sh $(ENGINE_RUNTIME)

# The runtime-spec checks (spec-conformance/run.sh) against RUNTIME (default: berth).
RUNTIME ?= target/debug/berth
conformance: deps
	$(CARGO) build --bin berth
	bash spec-conformance/run.sh $(RUNTIME)

# Regenerates spec-conformance/RESULTS.md for berth, runc and crun.
conformance-results: deps
	$(CARGO) build --bin berth
	bash spec-conformance/results.sh

# berth, runc and crun side by side (a few minutes); SAVE=1 writes bench/RESULTS.md.
bench: deps build
	bench/run.sh

clean:
	$(CARGO) clean
	rm -rf bundles
