# thaw: build, test, demo. Plain make; no generated build files.
#
#   make            build/bin/{thawd,thaw-control,thaw-lazyfs,thaw,thaw-agent,thaw-bench-*}, build/lib/libthaw.{a,so}
#   make SAN=1      the same with ASan+UBSan into build-san/ (the guest agent stays static)
#   make check      the fast tier: build and unit tests (no root, no VMs; a minute or two)
#   make test       install what is missing, then unit + end-to-end tests (scripts/test.sh)
#   make demo       install, build, bake, start thawd, run a command in a sandbox
#   make bench      every benchmark (bench/run.sh)

CC      ?= gcc
VERSION := 0.1.0
SAN     ?= 0

ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else
BUILD   ?= build
SANFLAGS :=
OPT     := -O2 -g
endif

PKGS    := libmicrohttpd jansson libcurl sqlite3 libcrypto libmnl libnftables
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 -Wvla
CSTD    := -std=gnu17 -D_GNU_SOURCE -DTHAW_VERSION=\"$(VERSION)\"
CFLAGS  += $(CSTD) $(WARN) $(OPT) -MMD -MP -Isrc/common -Isrc
HOST_CFLAGS := $(CFLAGS) $(SANFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -pthread
HOST_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread

# `make V=1` shows full command lines.
V ?= 0
ifeq ($(V),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n' '$(1)' '$(2)'
endif

OBJ := $(BUILD)/obj
BIN := $(BUILD)/bin
LIB := $(BUILD)/lib

# Leaf modules shared by the programs (they include no program header).
COMMON_SRCS := $(wildcard src/common/*.c)
# The guest agent links only what it needs: static, libc only.
GUEST_COMMON := src/common/buf.c src/common/proto.c src/common/outring.c
GUEST_SRCS  := $(wildcard src/guest/*.c)
THAWD_SRCS  := $(filter-out src/thawd/main.c,$(wildcard src/thawd/*.c src/thawd/*/*.c))
# The HTTP API machinery: shared by thawd and thaw-control.
HTTPAPI_SRCS := $(wildcard src/httpapi/*.c)
# The fleet's control plane (PostgreSQL through libpq).
CONTROL_SRCS := $(wildcard src/control/*.c src/control/*/*.c)
# Object storage (S3 and file://): shared by thawd and the lazy layer.
OBJSTORE_SRCS := $(wildcard src/objstore/*.c)
LAZYFS_SRCS := $(wildcard src/lazyfs/*.c)
LIBTHAW_SRCS := $(wildcard src/lib/*.c)
CLI_SRCS    := $(wildcard src/cli/*.c)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
# Programs the end-to-end tests drive against real servers (S3).
IT_SRCS     := $(wildcard tests/it/*.c)

COMMON_OBJS := $(COMMON_SRCS:%.c=$(OBJ)/%.o)
HTTPAPI_OBJS := $(HTTPAPI_SRCS:%.c=$(OBJ)/%.o)
CONTROL_OBJS := $(CONTROL_SRCS:%.c=$(OBJ)/%.o)
THAWD_OBJS  := $(THAWD_SRCS:%.c=$(OBJ)/%.o) $(OBJSTORE_SRCS:%.c=$(OBJ)/%.o) $(HTTPAPI_OBJS)
OBJSTORE_OBJS := $(OBJSTORE_SRCS:%.c=$(OBJ)/%.o)
LAZYFS_OBJS := $(LAZYFS_SRCS:%.c=$(OBJ)/%.o)
LIBTHAW_OBJS := $(LIBTHAW_SRCS:%.c=$(OBJ)/%.pic.o)
CLI_OBJS    := $(CLI_SRCS:%.c=$(OBJ)/%.o)
GUEST_OBJS  := $(GUEST_SRCS:%.c=$(OBJ)/guest-static/%.o) $(GUEST_COMMON:%.c=$(OBJ)/guest-static/%.o)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
IT_BINS     := $(IT_SRCS:tests/it/%.c=$(BUILD)/tests/it/%)

PROGRAMS := $(BIN)/thawd $(BIN)/thaw $(BIN)/thaw-agent $(BIN)/thaw-bench-create \
            $(BIN)/thaw-bench-lifecycle $(BIN)/thaw-bench-slots $(BIN)/thaw-bench-disk \
            $(BIN)/thaw-bench-usage $(BIN)/thaw-bench-observe \
            $(BIN)/thaw-lazyfs $(BIN)/thaw-control $(LIB)/libthaw.a $(LIB)/libthaw.so $(IT_BINS)

.PHONY: all check test unit e2e demo bench clean deps format lint fuzz
all: $(PROGRAMS)

# Host objects: thawd, CLI, tests.
$(OBJ)/%.o: %.c
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -Isrc/thawd -Isrc/lib -Isrc/objstore -c $< -o $@

# The lazy layer is the one user of libfuse3.
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null)
$(LAZYFS_OBJS): HOST_CFLAGS += $(FUSE_CFLAGS)

# The OpenAPI document is assembled into thawd (.incbin).
$(OBJ)/src/thawd/api/openapi.o: docs/openapi.json
# So are the console's files (httpapi/console.c).
$(OBJ)/src/httpapi/console.o: $(wildcard console/*)

# libthaw: position independent, hidden by default, THAW_API exports.
$(OBJ)/%.pic.o: %.c
	$(call say,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -fPIC -fvisibility=hidden -Isrc/lib -c $< -o $@

# The guest agent never carries sanitizers: it runs as PID 1 in the VM.
$(OBJ)/guest-static/%.o: %.c
	$(call say,CC,$< [guest])
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CSTD) $(WARN) -O2 -g -MMD -MP -Isrc/common -c $< -o $@

# $(filter ...) because the dependency files add headers to $^.
link_inputs = $(filter %.c %.o %.a,$^)

$(BIN)/thawd: $(OBJ)/src/thawd/main.o $(THAWD_OBJS) $(COMMON_OBJS)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) $(link_inputs) -o $@ $(HOST_LIBS)

# The control plane is the one user of libpq.
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null)
PQ_LIBS   := $(shell pkg-config --libs libpq 2>/dev/null)
$(CONTROL_OBJS): HOST_CFLAGS += $(PQ_CFLAGS)

$(BIN)/thaw-control: $(CONTROL_OBJS) $(HTTPAPI_OBJS) $(COMMON_OBJS)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) $(link_inputs) -o $@ $(HOST_LIBS) $(PQ_LIBS)

$(BIN)/thaw-lazyfs: $(LAZYFS_OBJS) $(OBJSTORE_OBJS) $(COMMON_OBJS)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) $(link_inputs) -o $@ $(HOST_LIBS) $(FUSE_LIBS)

$(LIB)/libthaw.a: $(LIBTHAW_OBJS)
	$(call say,AR,$@)
	@mkdir -p $(dir $@)
	$(Q)ar rcs $@ $(link_inputs)

$(LIB)/libthaw.so: $(LIBTHAW_OBJS)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) -shared -Wl,-soname,libthaw.so.0 $(link_inputs) -o $@.0 \
		$(shell pkg-config --libs libcurl jansson)
	$(Q)ln -sf libthaw.so.0 $@

$(BIN)/thaw: $(CLI_OBJS) $(LIB)/libthaw.a
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) $(link_inputs) -o $@ $(HOST_LIBS)

$(BIN)/thaw-bench-create: $(OBJ)/bench/create.o $(OBJ)/bench/percentile.o $(LIB)/libthaw.a
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) $(link_inputs) -o $@ $(HOST_LIBS) -lm

# Benchmarks of thawd's internals link its modules, like the unit tests.
$(BIN)/thaw-bench-lifecycle: $(OBJ)/bench/lifecycle.o $(OBJ)/bench/percentile.o $(LIB)/libthaw.a
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) $(link_inputs) -o $@ $(HOST_LIBS) -lm

$(BIN)/thaw-bench-%: $(OBJ)/bench/%.o $(OBJ)/bench/percentile.o $(THAWD_OBJS) $(COMMON_OBJS)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANFLAGS) $(link_inputs) -o $@ $(HOST_LIBS) -lm

$(BIN)/thaw-agent: $(GUEST_OBJS)
	$(call say,LD,$@ [static])
	@mkdir -p $(dir $@)
	$(Q)$(CC) -static $(link_inputs) -o $@

# Unit tests link the thawd modules (not main) and cmocka.
$(BUILD)/tests/%: tests/unit/%.c $(THAWD_OBJS) $(COMMON_OBJS)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -Isrc/thawd -Isrc/lib -Isrc/objstore $(link_inputs) -o $@ $(HOST_LIBS) -lcmocka

$(BUILD)/tests/it/%: tests/it/%.c $(OBJSTORE_OBJS) $(COMMON_OBJS)
	$(call say,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -Isrc/objstore $(link_inputs) -o $@ $(HOST_LIBS)

# Every program runs even after a failure; the target fails if any did.
unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

check:
	scripts/check.sh

test:
	scripts/test.sh

demo:
	scripts/demo.sh

bench: all
	bench/run.sh

deps:
	scripts/install-deps.sh

lint:
	scripts/lint.sh

fuzz:
	scripts/fuzz.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
