# kiln — build, guest, run and test entry points (see README.md).
CC      ?= gcc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -MMD -MP
CFLAGS  += $(shell pkg-config --cflags slirp jansson 2>/dev/null)
LDLIBS  += -lfdt -lz -lpthread -lm -lseccomp $(shell pkg-config --libs slirp jansson 2>/dev/null)

BUILD   ?= build
ifeq ($(SANITIZE),1)
BUILD   := build/asan
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

SRCS     := $(shell find src -name '*.c' ! -name main.c | sort)
OBJS     := $(SRCS:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libkiln.a
KILN     := $(BUILD)/kiln
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps guest guest-riscv64 guest-x86_64 run test unit-test baremetal-test guest-test api-test scripts-test kvm-test kvm-smoke fuzz-test fuzz jit-diff bench clean
all: $(KILN)

deps:
	@bash scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# the FPU switches the host's rounding mode around each operation: no constant folding across it
$(BUILD)/obj/src/cpu/rv64/fpu.o: CFLAGS += -frounding-math -fsignaling-nans

$(LIB): $(OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(KILN): $(BUILD)/obj/src/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcriterion

# Both default guests, each cached by its inputs (guest/README.md); one after the other even
# under -j (each kernel build already uses every core)
guest:
	@bash guest/build.sh
	@bash guest/build-x86_64.sh

# The default RISC-V guest (build/guest/: Image, initramfs, rootfs.ext4), the one `make run`
# boots and the rv64 tests use.
guest-riscv64:
	@bash guest/build.sh

# The default x86-64 guest for the kvm backend (build/guest-x86_64/: vmlinux with the PVH note,
# bzImage, initramfs, rootfs.ext4). kvm-test and kvm-smoke build it too.
guest-x86_64:
	@bash guest/build-x86_64.sh

# the default guest from its ext4 disk, with user-mode networking and an entropy device; only
# the RISC-V guest is built (a first x86-64 kernel build would add 10 minutes before the shell)
run: deps
	@$(MAKE) --no-print-directory all guest-riscv64
	$(KILN) run --kernel build/guest/Image --disk build/guest/rootfs.ext4 --net user --rng \
	    --cmdline "console=ttyS0 root=/dev/vda rw"


# the ISA-level unit tests run a second time through the JIT (rv64_test_util.h reads KILN_JIT)
JIT_ISA_TESTS := test_rv64_int test_rv64_atomic test_rv64_csr test_rv64_fp test_rv64_mmu \
                 test_rv64_trap test_dirty_coverage test_persist_cpu
unit-test: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t --jobs 2; done
	@set -e; for t in $(JIT_ISA_TESTS); do echo "== $$t (KILN_JIT=on)"; \
	    KILN_JIT=on $(BUILD)/tests/$$t --jobs 2; done

# the bare-metal programs under the interpreter and under the JIT (the default)
baremetal-test: $(KILN)
	@echo "== bare-metal tests, interpreter (KILN_JIT=off)"
	@KILN_JIT=off bash tests/baremetal/run.sh $(KILN)
	@echo "== bare-metal tests, JIT (KILN_JIT=on)"
	@KILN_JIT=on bash tests/baremetal/run.sh $(KILN)

# the JIT-vs-interpreter differential test at length: 100x make test's 20,000 sequences (about
# 500 million guest instructions); KILN_JIT_DIFF_SEED=N starts elsewhere
jit-diff: $(BUILD)/tests/test_rv64_jit_diff
	KILN_JIT_DIFF_N=$${KILN_JIT_DIFF_N:-2000000} $(BUILD)/tests/test_rv64_jit_diff --jobs 2 --verbose

guest-test: $(KILN) guest-riscv64
	@bash tests/guest/run.sh $(KILN)

api-test: $(KILN) guest-riscv64
	@bash tests/api/run.sh $(KILN)

# the project's own scripts: install-deps.sh on fake /etc/apt trees, the runners' tally
scripts-test:
	@bash tests/scripts/test_install_deps.sh
	@bash tests/scripts/test_tally.sh

$(BUILD)/tests/kvm_probe: tests/kvm/kvm_probe.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# KVM tests (tests/kvm/test_*.sh): on /dev/kvm when the host has it, else all in one nested VM
# with KVM (tests/kvm/nested.sh, software emulation: ~10 s to boot). Bounded: 300 s per test,
# 1800 s in all (KILN_KVM_TEST_TIMEOUT, KILN_KVM_SUITE_TIMEOUT).
kvm-test: deps
	@$(MAKE) --no-print-directory all $(BUILD)/tests/kvm_probe guest-x86_64
	@bash tests/kvm/run.sh $(KILN)

# make test's share: the no-/dev/kvm path on the host, and kiln booting the x86-64 guest, then
# snapshotting and migrating it, in one nested-VM boot (tests/kvm/smoke.sh: at most
# KILN_KVM_SMOKE_TIMEOUT, 480 s, up to two retries after
# a failure or timeout; skipped without QEMU)
kvm-smoke: $(KILN) guest-x86_64
	@bash tests/kvm/smoke.sh $(KILN)

# the guests are built first: some unit tests (test_vmm) also boot the RISC-V one when it is
# there, and kvm-smoke boots the x86-64 one
test: deps
	@$(MAKE) --no-print-directory guest
	@$(MAKE) --no-print-directory unit-test baremetal-test guest-test api-test kvm-smoke scripts-test fuzz-test

# libFuzzer harnesses (fuzz/, built with clang + ASan + UBSan in build/fuzz): each replays its
# regressions and seeds, then fuzzes for 10^5 inputs or 60 s. Under SANITIZE=1 only the replay
# (the harnesses are sanitized builds already). `make fuzz` runs long: FUZZ_SECONDS=600 each.
fuzz-test:
ifeq ($(SANITIZE),1)
	@bash fuzz/run.sh replay
else
	@bash fuzz/run.sh test
endif

fuzz: deps
	@bash fuzz/run.sh long

bench: deps
	@$(MAKE) --no-print-directory all guest-riscv64
	@bash bench/boot.sh
	@bash bench/io.sh
	@bash bench/api.sh
	@bash bench/run_rm.sh
	@bash bench/state.sh
	@bash bench/timer.sh
	@bash bench/noisy.sh

clean:
	rm -rf build/obj build/asan build/tests build/kiln build/libkiln.a

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
