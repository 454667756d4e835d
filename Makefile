# agpt build. `make` builds build/agpt; `make test` installs the test
# dependencies and runs every C and Python test, the C tests and a short
# training run under AddressSanitizer and UBSan, and every fuzz target over
# its seeds; `make demo` trains on the bundled demo corpora. `make sanitize`
# and `make fuzz FUZZ_TIME=s` run the sanitizer and fuzz parts alone. The
# build prints what it found.

CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
BUILD ?= build
OPT ?= -O3 -march=native
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(OPT) -g -fno-math-errno -Wall -Wextra -Werror -Isrc -fopenmp -MMD -MP
LDLIBS_BASE := -fopenmp -lm -lpthread

# BLAS: OpenBLAS, the OpenMP build (it shares agpt's OpenMP thread pool, so no
# second pool spins against ours), linked by path so that Debian's alternatives
# for libopenblas.so.0 cannot swap in the pthread build.
OPENBLAS_DIR ?= /usr/lib/x86_64-linux-gnu/openblas-openmp
OPENBLAS_INC ?= /usr/include/x86_64-linux-gnu/openblas-openmp
HAVE_OPENBLAS := $(if $(and $(wildcard $(OPENBLAS_DIR)/libopenblas.so),$(wildcard $(OPENBLAS_INC)/cblas.h)),1)
HAVE_PCRE2 := $(shell pkg-config --exists libpcre2-8 2>/dev/null && echo 1)

CFLAGS := $(CFLAGS_BASE) $(EXTRA_CFLAGS)
LDLIBS := $(LDLIBS_BASE)
ifeq ($(HAVE_OPENBLAS),1)
CFLAGS += -DAGPT_HAVE_OPENBLAS -I$(OPENBLAS_INC)
LDLIBS += -L$(OPENBLAS_DIR) -Wl,-rpath,$(OPENBLAS_DIR) -lopenblas
endif
ifeq ($(HAVE_PCRE2),1)
CFLAGS += -DAGPT_HAVE_PCRE2
LDLIBS += -lpcre2-8
endif

LIB_SRC := $(shell find src -name '*.c' ! -path 'src/cli/*' ! -path 'src/backend/cuda/*' | sort)
CLI_SRC := $(shell find src/cli -name '*.c' | sort)
TEST_SRC := $(wildcard tests/c/test_*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/c/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all test demo deps test-deps clean info-build sanitize sanitize-build fuzz fuzz-build fuzz-smoke
all: info-build $(BUILD)/agpt $(TEST_BIN) $(TOOL_BIN)

info-build:
	@echo "agpt build: CC=$(CC) OpenMP=yes OpenBLAS=$(if $(HAVE_OPENBLAS),yes,NO (install libopenblas-dev)) PCRE2=$(if $(HAVE_PCRE2),yes,NO (install libpcre2-dev)) CUDA=not built (CPU backend only)"

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libagpt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/agpt: $(CLI_OBJ) $(BUILD)/libagpt.a
	$(CC) $(CFLAGS) $(CLI_OBJ) $(BUILD)/libagpt.a $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/c/%.c $(BUILD)/libagpt.a tests/c/check.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/c $< $(BUILD)/libagpt.a $(LDLIBS) -o $@

# Helper programs that Python tests drive (not run on their own).
$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libagpt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/c $< $(BUILD)/libagpt.a $(LDLIBS) -o $@

deps:
	@bash scripts/deps.sh

test-deps:
	@bash scripts/deps.sh --test

test: test-deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory sanitize-build fuzz-build
	@AGPT_SAN_BUILD=$(SAN_BUILD) AGPT_FUZZ_BUILD=$(FUZZ_BUILD) AGPT_FUZZ_SMOKE_TIME=$(FUZZ_SMOKE_TIME) \
	  AGPT_FUZZ_MEM_MB=$(FUZZ_MEM_MB) bash tests/run.sh $(BUILD)

# Sanitizers: everything built again with AddressSanitizer and UBSan into
# its own directory (any error stops the process), then the C tests and a
# short training run on it.
SAN_BUILD ?= build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_OPT ?= -O1 -march=native

sanitize-build:
	@$(MAKE) --no-print-directory BUILD=$(SAN_BUILD) OPT="$(SAN_OPT)" EXTRA_CFLAGS="$(SAN_FLAGS)" all

sanitize: sanitize-build
	@bash tests/sanitize.sh $(SAN_BUILD)

# Fuzzing: one libFuzzer target per reader of outside input,
# tests/fuzz/fuzz_*.c, each with seeds in tests/fuzz/seeds/<name>/. The
# library is compiled for coverage with clang into its own directory.
# `make fuzz` runs each target for FUZZ_TIME seconds; an allocation above
# FUZZ_MEM_MB or a resident size above it counts as a crash, so a size read
# from a file that is not bounded by the file shows up. Crashes land in
# FUZZ_BUILD/crashes/<name>/. `make fuzz-smoke` replays the seeds and fuzzes
# each target for FUZZ_SMOKE_TIME seconds (part of `make test`).
FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_SMOKE_TIME ?= 5
FUZZ_MEM_MB ?= 2048
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="-O1 -march=native" \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SAN) -Wno-pass-failed" fuzz-bins

fuzz-bins: $(FUZZ_BIN)

$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_util.h $(BUILD)/libagpt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -Itests/fuzz $< $(BUILD)/libagpt.a $(LDLIBS) -o $@

fuzz: fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TIME) $(FUZZ_MEM_MB)

fuzz-smoke: fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_TIME) $(FUZZ_MEM_MB)

demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/agpt
	@bash scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
.PHONY: fuzz-bins
