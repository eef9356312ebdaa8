# fuzz/fuzz.mk — builds the libFuzzer harnesses (fuzz/fuzz_*.c) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, on an object build of src/ of their own in build/fuzz/ (the normal
# and SANITIZE=1 builds are untouched). Driven by fuzz/run.sh; `make -f fuzz/fuzz.mk -j2` works too.
FUZZ_CC  ?= clang
FBUILD   := build/fuzz
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FCFLAGS  := -O1 -g -std=gnu11 -D_GNU_SOURCE -Isrc -MMD -MP -Wall -Wno-unused-function $(SAN)
FCFLAGS  += $(shell pkg-config --cflags slirp jansson 2>/dev/null)
FLDLIBS  := -lfdt -lz -lpthread -lm -lseccomp $(shell pkg-config --libs slirp jansson 2>/dev/null)

FSRCS    := $(shell find src -name '*.c' ! -name main.c | sort)
FOBJS    := $(FSRCS:%.c=$(FBUILD)/obj/%.o)
FLIB     := $(FBUILD)/libkiln.a
FHARN    := $(wildcard fuzz/fuzz_*.c)
FBINS    := $(FHARN:fuzz/%.c=$(FBUILD)/%)

.PHONY: all
all: $(FBINS)

$(FBUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FCFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FLIB): $(FOBJS)
	rm -f $@ && ar rcs $@ $^

# A harness may #include a device's .c file to reach its static request handling: the
# archive's copy of that file is then never pulled in.
$(FBUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h $(FLIB)
	$(FUZZ_CC) $(FCFLAGS) -Ifuzz -fsanitize=fuzzer -o $@ $< $(FLIB) $(FLDLIBS)

-include $(shell find $(FBUILD) -name '*.d' 2>/dev/null)
