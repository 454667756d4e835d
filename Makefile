# agpt build. `make` builds build/agpt; `make test` installs the test
# dependencies and runs every C and Python test; `make demo` trains on the
# bundled demo corpora. The build prints what it found.

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

.PHONY: all test demo deps test-deps clean info-build
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
	@bash tests/run.sh $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/agpt
	@bash scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
