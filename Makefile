# berth: build, demo, tests. Run as root (containers need it).
CARGO ?= cargo
# The release binary is static (no loader, no shared libc pages: less to map at each start)
# and, with lld, linked with its hot functions together (bench/hot-symbols.txt, made by
# `make layout`) and packed relocations: peak RSS of a container start 4.1 -> 2.1 MB.
# (Peak RSS figures in this file are ru_maxrss readings, which this kernel keeps in steps
# of ~128 KiB; bench/peak_rss.py measures exactly: 1548 KiB in make bench at 59e8e92.)
#
# It is linked with musl where Rust's musl target is installed (`make deps` adds it), else
# with the host's glibc. A static glibc binary spends ~0.25 ms of every start probing the
# CPU (~50 CPUID instructions in its cache-size and feature set-up; each one traps to the
# hypervisor here, ~5 us). Measured against the glibc build, interleaved: state 0.85 ->
# 0.55 ms, exec 2.84 -> 2.19, run /bin/true (two starts of berth: the sealed re-exec)
# 8.05 -> 7.21, list of 500 containers 10.44 -> 8.74 (with dlmalloc, src/main.rs); peak
# RSS of a start 2228 -> 1472..1652 KiB. The tests run a musl build too (TEST_BERTH).
# Evaluated once, when first used: after `deps` has run.
MUSL := x86_64-unknown-linux-musl
TARGET = $(eval TARGET := $(shell rustup target list --installed 2>/dev/null | grep -qx $(MUSL) && echo $(MUSL) || rustc -vV | sed -n 's/^host: //p'))$(TARGET)
BERTH_RELEASE = target/$(TARGET)/release/berth
# berth's containerd shim, built as berth is (static, musl where installed) but with the
# libc's malloc (its helpers fork: shim/src/main.rs): containerd executes it three times
# per container (start, the serving shim, delete after it exits), and a dynamic glibc
# binary pays the loader each time. Measured interleaved, 40 runs of ctr run --rm
# /bin/true: glibc 43.05 ms, musl 39.00 (crun under the runc shim 76.55); with 20
# running, PSS per shim 833 -> 308 KiB, RSS 4884 -> 2251.
SHIM_RELEASE = target/$(TARGET)/release/containerd-shim-berth-v2
# The berth the tests run: a debug build for the same target as the release.
TEST_BERTH = target/$(TARGET)/debug/berth
BUILD_TEST_BERTH = $(CARGO) build --bin berth --target $(TARGET)
WITH_TEST_BERTH = BERTH=$(CURDIR)/$(TEST_BERTH)
# The shim the tests run: likewise for the release's target (musl: the allocator it ships).
SHIM_DEBUG = $(CURDIR)/target/$(TARGET)/debug/containerd-shim-berth-v2
BUILD_TEST_SHIM = $(CARGO) build -p containerd-shim-berth-v2 --target $(TARGET)
ORDERING ?= -C link-arg=-Wl,--symbol-ordering-file=$(CURDIR)/bench/hot-symbols.txt -C link-arg=-Wl,--no-warn-symbol-ordering
# Not position-independent (PIE=1 makes a static PIE): a static PIE relocates itself at
# each start, 8956 pointers in 177 KiB of .data.rel.ro and the GOT (vtables, &str tables,
# panic locations), so every one of those pages is copied on write, twice per run (the
# sealed re-exec). Measured, interleaved, same commit: peak RSS of run /bin/true 1640 ->
# 1412 KiB, run 5.52 -> 5.25 ms, --version 0.58 -> 0.50 ms. What it costs (berth's own
# image at a fixed address; heap, stack and mmaps stay randomized) is in SECURITY.md.
PIE ?= 0
RELEASE_FLAGS := -C target-feature=+crt-static
ifneq ($(PIE),1)
RELEASE_FLAGS += -C relocation-model=static
endif
ifneq ($(shell command -v ld.lld),)
RELEASE_FLAGS += -C link-arg=-fuse-ld=lld -C link-arg=-Wl,--pack-dyn-relocs=relr $(ORDERING)
endif
# berth's and the shim's release builds: stripped after the link (see build).
RELEASE_BUILD = CARGO_PROFILE_RELEASE_STRIP=false RUSTFLAGS="$(RELEASE_FLAGS)" $(CARGO) build --release --target $(TARGET)
DEMO_BUNDLE := bundles/demo

.PHONY: all build shim release-flags release-target layout deps demo test unit integration cgroupv2 systemd engines conformance conformance-results faults fuzz fuzz-smoke image-tests bench bench-image clean

all: build

# --target: with crt-static, cargo must build proc-macros for the host separately.
# Stripped after the link, not by it: with any strip option the link loses the local
# symbols the ordering file names (measured: the ordering stops working), and LTO makes
# nearly every function local.
# cargo does not track the ordering file: a newer one forces the relink.
build:
	@[ ! bench/hot-symbols.txt -nt $(BERTH_RELEASE) ] || rm -f $(BERTH_RELEASE) $$(ls target/$(TARGET)/release/deps/berth-* 2>/dev/null | grep -v "\.d$$")
	$(RELEASE_BUILD)
	@# A name of the ordering file missing from the link (renamed, removed, inlined) puts a
	@# hot function back among the cold ones: peak RSS grew 1412 -> 1572 KiB that way.
	@n=$$(nm --defined-only $(BERTH_RELEASE) | awk 'NR==FNR {have[$$3]; next} !($$0 in have) {n++} END {print n+0}' - bench/hot-symbols.txt); \
	  [ "$$n" = 0 ] || echo "warning: $$n functions of bench/hot-symbols.txt are not in this build: run make layout" >&2
	strip $(BERTH_RELEASE)
	@# The ELF type (2 bytes at offset 16): 2 an executable at a fixed address, 3 a PIE.
	@t=$$(od -An -tu2 -j16 -N2 $(BERTH_RELEASE) | tr -d ' '); want=$$([ "$(PIE)" = 1 ] && echo 3 || echo 2); \
	  [ "$$t" = "$$want" ] || { echo "$(BERTH_RELEASE): ELF type $$t, expected $$want (PIE=$(PIE))" >&2; exit 1; }

shim:
	$(RELEASE_BUILD) -p containerd-shim-berth-v2
	strip $(SHIM_RELEASE)

release-flags:
	@echo "$(RELEASE_FLAGS)"

release-target:
	@echo "$(TARGET)"

# Regenerates bench/hot-symbols.txt from the functions a workload runs (see bench/layout.sh).
layout:
	bash bench/layout.sh

# What the tests and the demo need from Debian: a static busybox for the rootfs,
# runc and crun as oracles for differential tests and the benchmark, GNU time for
# the benchmark's peak RSS, the engines for their scenarios, protoc for the CRI
# client's generated gRPC code. apt-install.sh skips what is installed, never removes a
# package, and names the package and apt's reason when one cannot be installed.
# strace injects the faults of `make faults`; g++ builds libFuzzer for `make fuzz`;
# docker-registry, skopeo, umoci, zstd and apache2-utils (htpasswd) are berth-image's
# registry, reference client and unpacker, and fixture tools.
DEBS := busybox-static runc crun time containerd podman docker.io jq protobuf-compiler lld strace g++ \
	docker-registry skopeo umoci zstd apache2-utils uidmap
deps:
	@bash integration-tests/apt-install.sh $(DEBS)
	@rustup target list --installed 2>/dev/null | grep -qx $(MUSL) || timeout 300 rustup target add $(MUSL) \
		|| echo "make deps: Rust's $(MUSL) target cannot be installed: berth is built with glibc" >&2

# Builds berth, makes a busybox bundle, runs a container from it in the foreground.
demo: deps build
	BERTH=$(BERTH_RELEASE) sh integration-tests/make-bundle.sh $(DEMO_BUNDLE)
	$(BERTH_RELEASE) --root /run/berth-demo run --bundle $(DEMO_BUNDLE) berth-demo-$$$$

# Unit tests, then integration tests (real containers, one at a time: each test's
# leak check looks at the whole host).
test: deps
	$(BUILD_TEST_BERTH)
	$(WITH_TEST_BERTH) $(CARGO) test --workspace --no-fail-fast -- --test-threads=1
	$(MAKE) image-tests
	$(MAKE) faults
	$(MAKE) fuzz-smoke
	$(MAKE) cgroupv2
	$(MAKE) systemd
	$(MAKE) engines
	$(MAKE) conformance

# The cgroup v2 paths, in a QEMU guest whose only hierarchy is cgroup2 (about a minute;
# the first run downloads a Debian kernel package).
cgroupv2:
	$(BUILD_TEST_BERTH)
	$(WITH_TEST_BERTH) bash integration-tests/cgroupv2-vm/run.sh

# The systemd cgroup driver against Debian's systemd as PID 1 of the same kind of guest:
# booted pure cgroup2 (the whole scenario, engines and rootless included), then with
# systemd's hybrid and legacy (v1) hierarchies (about 60 s in all under TCG).
systemd:
	$(BUILD_TEST_BERTH)
	$(BUILD_TEST_SHIM)
	$(WITH_TEST_BERTH) SHIM=$(SHIM_DEBUG) bash integration-tests/systemd-vm/run.sh
	$(WITH_TEST_BERTH) SHIM=$(SHIM_DEBUG) VM_CGROUPS="systemd.unified_cgroup_hierarchy=0" bash integration-tests/systemd-vm/run.sh integration-tests/systemd-vm/scenario-v1.sh
	$(WITH_TEST_BERTH) SHIM=$(SHIM_DEBUG) VM_CGROUPS="systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=1" bash integration-tests/systemd-vm/run.sh integration-tests/systemd-vm/scenario-v1.sh

unit:
	$(CARGO) test --lib

integration: deps
	$(BUILD_TEST_BERTH)
	$(WITH_TEST_BERTH) $(CARGO) test -p berth-integration-tests -- --test-threads=1

# Real engines driving berth with private configs and state (containerd through its runc
# shim and through its CRI plugin, both again through berth's own shim, podman, docker).
# ENGINE_RUNTIME=runc runs the same scenarios against runc, to check them.
ENGINE_RUNTIME ?= $(TEST_BERTH)
engines: deps
	$(BUILD_TEST_BERTH)
	$(BUILD_TEST_SHIM)
	@# The shim's own tests for that target too (its helpers fork: the allocator's test).
	$(CARGO) test -p containerd-shim-berth-v2 --target $(TARGET)
	$(WITH_TEST_BERTH) bash integration-tests/engines/containerd.sh $(ENGINE_RUNTIME)
	$(WITH_TEST_BERTH) SHIM=$(SHIM_DEBUG) bash integration-tests/engines/containerd.sh $(ENGINE_RUNTIME)
	$(WITH_TEST_BERTH) bash integration-tests/engines/cri.sh $(ENGINE_RUNTIME)
	$(WITH_TEST_BERTH) SHIM=$(SHIM_DEBUG) bash integration-tests/engines/cri.sh $(ENGINE_RUNTIME)
	$(WITH_TEST_BERTH) bash integration-tests/engines/podman.sh $(ENGINE_RUNTIME)
	$(WITH_TEST_BERTH) bash integration-tests/engines/podman-rootless.sh $(ENGINE_RUNTIME)
	$(WITH_TEST_BERTH) bash integration-tests/engines/docker.sh $(ENGINE_RUNTIME)

# The runtime-spec checks (spec-conformance/run.sh) against RUNTIME (default: berth), then
# the engines' own configs run under RUNTIME and runc, compared (differential.py).
RUNTIME ?= $(TEST_BERTH)
conformance: deps
	$(BUILD_TEST_BERTH)
	$(WITH_TEST_BERTH) bash spec-conformance/run.sh $(RUNTIME)
	$(WITH_TEST_BERTH) python3 spec-conformance/differential.py $(RUNTIME) runc

# Regenerates spec-conformance/RESULTS.md for berth, runc and crun.
conformance-results: deps
	$(BUILD_TEST_BERTH)
	$(WITH_TEST_BERTH) bash spec-conformance/results.sh

# berth-image against docker-registry in four modes, skopeo + umoci as the reference,
# fixture and hostile images built by the tests, every bundle run with berth.
image-tests: deps
	$(CARGO) build -p berth -p berth-image --bins
	$(BUILD_TEST_BERTH)
	python3 integration-tests/image/test_image.py target/debug/berth-image $(TEST_BERTH)

# Every syscall of `berth run` and `berth exec` made to fail in turn (strace inject): no
# crash, no hang, one clear error, nothing left behind (SECURITY.md).
faults: deps
	$(BUILD_TEST_BERTH)
	python3 integration-tests/fault-injection.py $(TEST_BERTH)

# libFuzzer targets (fuzz/): 20 s each from the kept corpus in `make test`; `make fuzz`
# runs them 10 minutes each and merges what adds coverage into fuzz/corpus.
FUZZ_SECONDS ?= 600
fuzz-smoke: deps
	bash fuzz/run.sh 20

fuzz: deps
	MERGE=1 bash fuzz/run.sh $(FUZZ_SECONDS)

# berth, runc and crun side by side (a few minutes), alone and under containerd (through
# the runc shim and berth's shim), its CRI plugin, podman and docker; SAVE=1 writes
# bench/RESULTS.md.
bench: deps build shim
	BERTH=$(CURDIR)/$(BERTH_RELEASE) SHIM=$(CURDIR)/$(SHIM_RELEASE) bench/run.sh

# berth-image against skopeo copy + umoci unpack, on a small image and a ~300 MB one of
# ~27,000 files built and served locally; SAVE=1 writes bench/IMAGE-RESULTS.md.
bench-image: deps
	$(CARGO) build --release -p berth-image
	python3 bench/image.py target/release/berth-image $(or $(ROUNDS),3)

clean:
	$(CARGO) clean
	rm -rf bundles
