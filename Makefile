# ckpt: checkpoint/restore for Linux process trees.
#   make            build build/ckpt
#   make SAN=1      build build-san/ckpt with ASan+UBSan
#   make test       build and run the test suite (tests/run)
#   make bench      run the benchmarks (bench/run)

SAN ?= 0
ifeq ($(SAN),1)
O ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
O ?= build
SANFLAGS =
endif

CC ?= gcc
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Werror -Wno-missing-field-initializers
CPPFLAGS = -D_GNU_SOURCE -Iinclude -Ilib -I$(O)/gen -Ipie
LDLIBS = -lprotobuf-c -lxxhash

LIB_SRCS = $(wildcard lib/*.c) $(wildcard lib/res/*.c)
LIB_OBJS = $(patsubst %.c,$(O)/%.o,$(LIB_SRCS)) $(O)/gen/ckpt.pb-c.o $(O)/lib/blob.o $(O)/lib/snap_pump.o

# The restorer runs with no libc and no fixed address.
PIE_CFLAGS = -O2 -fpie -ffreestanding -fno-stack-protector -fno-builtin -nostdlib \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fno-jump-tables -fcf-protection=none \
	-mno-red-zone -mgeneral-regs-only -fvisibility=hidden -Wall -Wextra -Werror -Wno-missing-field-initializers -Ipie

all: $(O)/ckpt

# One run of protoc-c makes both files (a grouped target: not run twice by -j).
$(O)/gen/ckpt.pb-c.c $(O)/gen/ckpt.pb-c.h &: images/ckpt.proto
	@mkdir -p $(O)/gen
	protoc-c --c_out=$(O)/gen -Iimages images/ckpt.proto

$(O)/gen/ckpt.pb-c.o: $(O)/gen/ckpt.pb-c.c
	$(CC) $(CFLAGS) $(SANFLAGS) -I$(O)/gen -c -o $@ $<

$(O)/lib/%.o: lib/%.c $(O)/gen/ckpt.pb-c.h $(wildcard lib/*.h lib/res/*.h include/*.h pie/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(SANFLAGS) -c -o $@ $<

$(O)/tools/%.o: tools/%.c $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(SANFLAGS) -c -o $@ $<

$(O)/pie/%.o: pie/%.c pie/restorer.h pie/syscall.h
	@mkdir -p $(dir $@)
	$(CC) $(PIE_CFLAGS) -c -o $@ $<

$(O)/pie/head.o: pie/head.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(O)/pie/restorer.bin: $(O)/pie/head.o $(O)/pie/restorer.o pie/restorer.lds
	ld -static -nostdlib -T pie/restorer.lds -o $(O)/pie/restorer.elf $(O)/pie/head.o $(O)/pie/restorer.o
	@# Absolute relocations would break when the block moves: refuse them.
	@if readelf -r $(O)/pie/restorer.o | grep -q 'R_X86_64_64\|R_X86_64_32 '; then \
		echo "restorer has absolute relocations"; exit 1; fi
	objcopy -O binary $(O)/pie/restorer.elf $@

$(O)/lib/snap_pump.o: lib/snap_pump.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(O)/lib/blob.o: lib/blob.S $(O)/pie/restorer.bin
	$(CC) -c -Wa,-I$(O)/pie -o $@ lib/blob.S

$(O)/libckpt.a: $(LIB_OBJS)
	ar rcs $@ $^

$(O)/ckpt: $(O)/tools/ckpt.o $(O)/libckpt.a
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

test: all
	tests/run

bench: all
	bench/run

clean:
	rm -rf build build-san

.PHONY: all test bench clean

# ---------------------------------------------------------------------------
# Fuzzing (issue 4). Kept apart from the rules above: its own output
# directory, its own compiler and flags.
#   make fuzz        build build-fuzz/image_reader, a libFuzzer target for the
#                    image reader (lib/image.c, lib/model.c, lib/info.c), with
#                    clang and ASan+UBSan; needs clang and libclang-rt-14-dev
#   fuzz/run [SECS]  build it and fuzz for SECS seconds (default 60), then
#                    replay fuzz/regressions/*; see fuzz/README.md
# Every file of the library is compiled (so clang sees all of it), but the
# target links against an archive, which pulls in only what ckpt_info()
# needs: the restorer blob (lib/blob.S, pie/) is not needed and not built.
# fuzz/coverage reuses these rules with FUZZ_O=build-fuzz/cov and clang's
# source coverage in FUZZ_CFLAGS instead of the sanitizers.
FUZZ_O = build-fuzz
FUZZ_CC = clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -O1 -g $(FUZZ_SAN)
FUZZ_CPPFLAGS = -D_GNU_SOURCE -Iinclude -Ilib -I$(FUZZ_O)/gen -Ipie
FUZZ_LIB_OBJS = $(patsubst %.c,$(FUZZ_O)/%.o,$(LIB_SRCS)) $(FUZZ_O)/gen/ckpt.pb-c.o $(FUZZ_O)/lib/snap_pump.o

fuzz: $(FUZZ_O)/image_reader

# One run of protoc-c makes both files (a grouped target: not run twice by -j).
$(FUZZ_O)/gen/ckpt.pb-c.c $(FUZZ_O)/gen/ckpt.pb-c.h &: images/ckpt.proto
	@mkdir -p $(FUZZ_O)/gen
	protoc-c --c_out=$(FUZZ_O)/gen -Iimages images/ckpt.proto

$(FUZZ_O)/gen/ckpt.pb-c.o: $(FUZZ_O)/gen/ckpt.pb-c.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -I$(FUZZ_O)/gen -c -o $@ $<

$(FUZZ_O)/lib/%.o: lib/%.c $(FUZZ_O)/gen/ckpt.pb-c.h $(wildcard lib/*.h lib/res/*.h include/*.h pie/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) $(WARN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_O)/lib/snap_pump.o: lib/snap_pump.S
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -c -o $@ $<

$(FUZZ_O)/libckpt-fuzz.a: $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_O)/image_reader: fuzz/image_reader.c $(FUZZ_O)/libckpt-fuzz.a $(wildcard lib/*.h include/*.h)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) $(WARN) -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_O)/libckpt-fuzz.a $(LDLIBS)

clean-fuzz:
	rm -rf $(FUZZ_O)

clean: clean-fuzz

.PHONY: fuzz clean-fuzz
