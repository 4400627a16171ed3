# DDPM reproduction harness — one Makefile for the library, the ddpm tool, the drivers and tests.
# make            build everything (bin/ddpm, bin/exp_*, tests)
# make setup      install missing Debian packages, then build (setup-dev: also clang, valgrind, python3-torch)
# make test       run every Check suite (smoke tier); exit status = failures
# make test-sanitize   the same suites built with ASan+UBSan
# make valgrind   memcheck of a smoke training run
# make bench      throughput of the U-Net (C, and PyTorch beside it when installed)
# make exp-table2 [TIER=smoke|mini|paper]   and exp-table1, exp-ratedist, exp-progressive, exp-interp

TIER ?= mini
CC ?= cc
PKGS := openblas hdf5 libpng zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
ifeq ($(strip $(PKG_LIBS)),)
ifneq ($(filter setup clean,$(MAKECMDGOALS)),setup)
$(warning pkg-config finds no openblas/hdf5/libpng/zlib: run `make setup` first (Debian 12))
endif
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wdouble-promotion -Wno-unused-parameter
# WERROR=1 (CI) turns every warning into an error; `make CC=clang` builds with the same set.
ifeq ($(WERROR),1)
WARN += -Werror
endif
# -ffp-contract=off: no fused multiply-adds the source does not write, so results do not depend on
# -march or the compiler's choices (GCC 12 contracts by default even with -std=c11).
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -ffp-contract=off -fopenmp -Isrc $(PKG_CFLAGS)
OPT ?= -O2 -march=native -g
SAN_OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

BUILD ?= build
ifeq ($(SANITIZE),1)
BUILD := build-san
OPT := $(SAN_OPT)
endif
GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
CFLAGS_ALL = $(BASE_CFLAGS) $(OPT) -DDDPM_CFLAGS='"$(OPT)"' -DDDPM_GIT_REV='"$(GIT_REV)"'
LDLIBS_ALL = $(PKG_LIBS) -fopenmp -lm

LIB_SRC := $(shell find src -name '*.c' -not -path 'src/cli/*' -not -path 'src/mpi/*' | sort)
CLI_SRC := $(wildcard src/cli/*.c)
EXP_SRC := $(wildcard experiments/*.c)
DRIVER_SRC := $(wildcard experiments/driver/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRC))
DRIVER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(DRIVER_SRC))
LIB := $(BUILD)/libddpm.a
BIN_DIR ?= bin
ifeq ($(SANITIZE),1)
BIN_DIR := $(BUILD)/bin
endif
EXP_BIN := $(patsubst experiments/%.c,$(BIN_DIR)/%,$(EXP_SRC))
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

FORMAT_SRC = $(shell git ls-files 'src/*.[ch]' 'tests/*.[ch]' 'experiments/*.[ch]' 2>/dev/null)

.PHONY: format format-check
# make format: the project's C layout (.clang-format) applied in place; format-check: lists the files it would change
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC)

.PHONY: all setup setup-dev setup-mpi test test-sanitize valgrind bench clean tests \
        exp-table1 exp-table2 exp-table3 exp-ratedist exp-progressive exp-interp \
        data-cifar10 inception-weights released-models notebooks classifier
.DEFAULT_GOAL := all
# Keep the drivers' object files (make would delete them as intermediates and rebuild each time).
.SECONDARY:

all: $(BIN_DIR)/ddpm $(EXP_BIN) tests

# ---- bin/ddpm-mpi (issue 16, README "MPI"): only when pkg-config finds Open MPI's ompi-c ----
# src/mpi/dist_mpi.o is linked before libddpm.a, so the archive's serial dist member is never
# pulled in; the serial bin/ddpm, the drivers and the tests never see MPI.
MPI_OK := $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1)
ifeq ($(MPI_OK),1)
MPI_CFLAGS := $(shell pkg-config --cflags ompi-c)
MPI_LIBS := $(shell pkg-config --libs ompi-c)
all: $(BIN_DIR)/ddpm-mpi
$(BUILD)/mpi/%.o: src/mpi/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(MPI_CFLAGS) -MMD -MP -c $< -o $@
$(BIN_DIR)/ddpm-mpi: $(CLI_OBJ) $(BUILD)/mpi/dist_mpi.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJ) $(BUILD)/mpi/dist_mpi.o $(LIB) $(LDLIBS_ALL) $(MPI_LIBS)
# the in-process MPI Check binary that tests/test_mpi.c runs under mpirun
all: $(BUILD)/tests/mpi/test_dist
$(BUILD)/tests/mpi/test_dist: tests/mpi/test_dist.c $(BUILD)/mpi/dist_mpi.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -Itests -o $@ $< $(BUILD)/mpi/dist_mpi.o $(LIB) $(CHECK_LIBS) $(LDLIBS_ALL) $(MPI_LIBS)
endif

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN_DIR)/ddpm: $(CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS_ALL)

# the drivers (experiments/*.c) share experiments/driver/ (argument parsing, tables, logs)
$(BUILD)/experiments/%.o: experiments/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Iexperiments -MMD -MP -c $< -o $@

# the drivers parse their arguments with the ddpm tool's parser (src/cli/cli.c, not in libddpm.a)
DRIVER_CLI_OBJ := $(BUILD)/src/cli/cli.o
$(BIN_DIR)/%: $(BUILD)/experiments/%.o $(DRIVER_OBJ) $(DRIVER_CLI_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(DRIVER_OBJ) $(DRIVER_CLI_OBJ) $(LIB) $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/%.c tests/testutil.h tests/testutil_run.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -Itests -o $@ $< $(LIB) $(CHECK_LIBS) $(LDLIBS_ALL)

tests: $(TEST_BIN)

setup:
	bash scripts/install_deps.sh
	$(MAKE) all

# Open MPI (openmpi-bin, libopenmpi-dev), then bin/ddpm-mpi
setup-mpi:
	bash scripts/install_deps.sh --mpi
	$(MAKE) all

# setup plus the tools of `make fuzz` and `make valgrind`, and python3-torch/-h5py/-numpy (make bench's
# PyTorch side, the fixture scripts in scripts/)
setup-dev:
	bash scripts/install_deps.sh --dev
	$(MAKE) all

# The suites run from the repository root (they read tests/data/ and write build/tmp/).
# Targets that run programs build through a sub-make, so that `make setup exp-table2` on a
# fresh machine compiles with the pkg-config flags of the packages setup just installed.
test:
	$(MAKE) all
	bash scripts/run_tests.sh $(BUILD) $(BIN_DIR) $(TEST_BIN)

# ASan + UBSan over every suite. DDPM_SANITIZE=1 skips the cases run under mpirun (test_mpi and the MPI
# cases of test_resume and test_drivers_ckpt): LeakSanitizer reads Open MPI's own allocations as leaks.
test-sanitize:
	$(MAKE) SANITIZE=1 all
	DDPM_SANITIZE=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_FORK=no \
	  bash scripts/run_tests.sh build-san build-san/bin $(patsubst tests/%.c,build-san/tests/%,$(TEST_SRC))

# memcheck of a smoke training, its resume and sampling (scripts/valgrind_smoke.sh; ~25 min)
valgrind:
	bash scripts/valgrind_smoke.sh

bench:
	$(MAKE) all
	BIN_DIR=$(BIN_DIR) bash scripts/bench.sh

# ---- experiments (TIER=smoke|mini|paper; configs in experiments/configs/<tier>/) ----
# On MPI (issue 16, src/eval/mpi_launch.h): MPI_NP=4 (mpirun -np 4 --bind-to none) or MPIRUN="the
# whole launcher line" runs each training, sampling and likelihood as bin/ddpm-mpi under it;
# GRAD_BLOCKS=16 sets grad_blocks (needed for more than one rank; part of the run hash).
ifneq ($(strip $(MPI_NP)),)
MPIRUN ?= mpirun -np $(MPI_NP) --bind-to none
endif
export DDPM_MPIRUN := $(MPIRUN)
# Evaluating a given model (README "Using the released models"): CKPT=path (train nothing),
# N_SAMPLES= / NLL_N= (default: the tier's; paper 50000 / 10000), REF_STATS= (.npz with mu/sigma).
DRIVER_ARGS := $(if $(strip $(GRAD_BLOCKS)),--set grad_blocks=$(GRAD_BLOCKS)) \
  $(if $(strip $(CKPT)),--ckpt '$(CKPT)') $(if $(strip $(N_SAMPLES)),--samples $(N_SAMPLES)) \
  $(if $(strip $(NLL_N)),--nll-n $(NLL_N)) $(if $(strip $(REF_STATS)),--ref-stats '$(REF_STATS)') \
  $(if $(strip $(DATA_DIR)),--set 'data_dir=$(DATA_DIR)')
exp-table2:
	$(MAKE) all
	$(BIN_DIR)/exp_table2 --tier $(TIER) $(DRIVER_ARGS)
exp-table1:
	$(MAKE) all
	$(BIN_DIR)/exp_table1 --tier $(TIER) $(DRIVER_ARGS)
exp-ratedist:
	$(MAKE) all
	$(BIN_DIR)/exp_ratedist --tier $(TIER) $(DRIVER_ARGS)
exp-progressive:
	$(MAKE) all
	$(BIN_DIR)/exp_progressive --tier $(TIER) $(DRIVER_ARGS)
exp-interp:
	$(MAKE) all
	$(BIN_DIR)/exp_interp --tier $(TIER) $(DRIVER_ARGS)
# Table 3 (LSUN 256x256 FID) of a released LSUN model: CKPT=released/lsun_church.h5 and DATA_DIR= a
# folder of the training PNGs or REF_STATS=; without CKPT each of released/lsun_{church,bedroom,cat}.h5 present
exp-table3:
	$(MAKE) all
	@if [ -n '$(strip $(CKPT))' ]; then $(BIN_DIR)/exp_table3 --tier $(TIER) $(DRIVER_ARGS); else \
	  found=0; for m in church bedroom cat; do f=released/lsun_$$m.h5; [ -f $$f ] || continue; found=1; \
	    $(BIN_DIR)/exp_table3 --tier $(TIER) --ckpt $$f --row $$m $(DRIVER_ARGS) || exit 1; done; \
	  [ $$found = 1 ] || { echo "exp-table3: no released/lsun_{church,bedroom,cat}.h5: make released-models MODEL=lsun_church (or give CKPT=)"; exit 1; }; fi

# ---- downloads (checksum-verified) ----
data-cifar10:
	bash scripts/download_cifar10.sh data
inception-weights:
	bash scripts/download_inception.sh data
# A released DDPM model as released/$(MODEL).h5 (scripts/download_released.sh; README "Using the
# released models"): MODEL=cifar10|celebahq|lsun_bedroom|lsun_cat|lsun_church, SOURCE=official|pesser|diffusers
MODEL ?= cifar10
SOURCE ?=
released-models:
	$(MAKE) $(BIN_DIR)/ddpm
	DDPM_BIN=$(BIN_DIR) bash scripts/download_released.sh $(MODEL) '$(SOURCE)' released

notebooks:
	bash scripts/run_notebooks.sh

# Retrains the shipped Fashion-MNIST classifier (FD_fmnist / IS_fmnist) deterministically.
classifier:
	$(MAKE) all
	$(BIN_DIR)/train_classifier --out experiments/classifier/fmnist_classifier.h5

clean:
	rm -rf build build-san build-vg bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- fuzzing (docs/fuzzing.md) ----
# Each tests/fuzz/fuzz_<name>.c is a libFuzzer target. With the normal toolchain it is linked to
# tests/fuzz/replay_main.c as $(BUILD)/fuzz/replay_<name>, which the test_fuzz_replay suite runs
# over the seed corpus tests/fuzz/corpus/<name>/ on every `make test`.
# `make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="config png ..."]` builds the targets with clang's
# libFuzzer + ASan + UBSan in build-fuzz/ and runs each for FUZZ_SECONDS (scripts/run_fuzz.sh).
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY_BIN := $(patsubst %,$(BUILD)/fuzz/replay_%,$(FUZZ_NAMES))
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)

$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c tests/fuzz/fuzz_common.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ tests/fuzz/replay_main.c $< $(LIB) $(LDLIBS_ALL)

$(BUILD)/tests/test_fuzz_replay: $(FUZZ_REPLAY_BIN)

.PHONY: fuzz
fuzz:
	FUZZ_SECONDS='$(FUZZ_SECONDS)' MAKE='$(MAKE)' PKG_LIBS='$(PKG_LIBS)' \
	  FUZZ_LIB_CFLAGS='$(filter-out -fopenmp,$(BASE_CFLAGS)) -Wno-unknown-pragmas' \
	  bash scripts/run_fuzz.sh $(FUZZ_TARGETS)
