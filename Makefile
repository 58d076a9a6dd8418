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
LIB_OBJS = $(patsubst %.c,$(O)/%.o,$(LIB_SRCS)) $(O)/gen/ckpt.pb-c.o $(O)/lib/blob.o

# The restorer runs with no libc and no fixed address.
PIE_CFLAGS = -O2 -fpie -ffreestanding -fno-stack-protector -fno-builtin -nostdlib \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fno-jump-tables -fcf-protection=none \
	-mno-red-zone -mgeneral-regs-only -fvisibility=hidden -Wall -Wextra -Werror -Wno-missing-field-initializers -Ipie

all: $(O)/ckpt

$(O)/gen/ckpt.pb-c.c $(O)/gen/ckpt.pb-c.h: images/ckpt.proto
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
