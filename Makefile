# edask — GNU make + pkg-config.
#
#   make            build build/edask (warning-free with -Werror)
#   make demo       install what is missing (apt, npm, .venv), build, run the
#                   demo
#   make test       install what is missing, then every test: unit (plain and
#                   ASan/UBSan), a short libFuzzer pass, integration (.venv's
#                   Dask, ASan daemon, workload on the plain one; Debian's
#                   Dask, core tests)
#   make deps       only install (apt, npm, .venv from requirements.lock)
#
# Variant builds live in their own folders: B=build/asan, B=build/fuzz.

CC	?= cc
B	?= build
OPT	?= -O2
PKGS	:= libmicrohttpd libcurl jansson yaml-0.1 sqlite3 libssl libcrypto
WARN	:= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wformat=2 -Werror
# `python: auto` in a spec is this tree's .venv/bin/python (scripts/deps.sh
# makes it), when it exists at run time.
VENV_PY	:= $(CURDIR)/.venv/bin/python
CFLAGS	+= -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) \
	   $(shell pkg-config --cflags $(PKGS)) \
	   -DEDASK_VENV_PYTHON='"$(VENV_PY)"'

LDLIBS	+= $(shell pkg-config --libs $(PKGS)) -ldl -lm

SRC	:= $(wildcard src/*.c)
LIBSRC	:= $(filter-out src/main.c,$(SRC))
LIBOBJ	:= $(patsubst src/%.c,$(B)/obj/%.o,$(LIBSRC))
HDR	:= $(wildcard src/*.h)
UNIT	:= $(patsubst tests/unit/%.c,$(B)/%,$(wildcard tests/unit/test_*.c))
FUZZ	:= $(patsubst fuzz/%.c,%,$(wildcard fuzz/fuzz_*.c))
CONSOLE	:= $(wildcard console/*)
INSTFILES := examples/dask_xgb_training.ipynb examples/xgb_train.py \
	   examples/flights.py src/py/edask_preload.py src/py/edask_forker.py

# The console's files go into the binary through the assembler's .incbin
# (src/console_assets.S).
LIBOBJ	+= $(B)/obj/console_assets.o $(B)/obj/instance_assets.o

.PHONY: bench-sim bench-slurm all unit demo test deps check-unit asan fuzz integration bench clean \
	coverage

all: $(B)/edask $(B)/fakenvml/libnvidia-ml.so.1

$(B)/obj/%.o: src/%.c $(HDR) | $(B)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/obj/console_assets.o: src/console_assets.S src/asset.inc $(CONSOLE) | $(B)/obj
	$(CC) -c -o $@ $<

$(B)/obj/instance_assets.o: src/instance_assets.S src/asset.inc $(INSTFILES) | $(B)/obj
	$(CC) -c -o $@ $<

$(B)/obj:
	mkdir -p $@

$(B)/libedask.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/edask: $(B)/obj/main.o $(B)/libedask.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Test double of NVML: loaded by the real dlopen path through
# LD_LIBRARY_PATH; it reads fake GPUs from $$FAKE_NVML_FILE.
$(B)/fakenvml/libnvidia-ml.so.1: tests/fakenvml/fakenvml.c
	mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) -fPIC -shared -o $@ $<

# The controller's fake engine and backend (tests/fake/fake_ctl.h), for
# test_ctl and the simulator.
FAKEOBJ	:= $(B)/fake/fake_ctl.o

$(FAKEOBJ): tests/fake/fake_ctl.c tests/fake/fake_ctl.h $(HDR)
	mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

# A test links the objects among its prerequisites (test_ctl and the
# backends' tests: the fakes).
$(B)/test_%: tests/unit/test_%.c tests/unit/testutil.h $(B)/libedask.a
	$(CC) $(CFLAGS) -Isrc -Itests/fake -o $@ $< $(filter %.o,$^) \
	    $(B)/libedask.a $(shell pkg-config --libs cmocka) $(LDLIBS)

$(B)/test_ctl $(B)/test_backend_local $(B)/test_backend_slurm: \
    tests/fake/fake_ctl.h \
    tests/unit/ctl_harness.h $(FAKEOBJ)

unit: $(UNIT) $(B)/fakenvml/libnvidia-ml.so.1

check-unit: unit
	scripts/run-unit.sh $(B)

ASAN_OPT := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer

# Unit tests under ASan/UBSan, and the daemon built the same way for the
# integration tests (scripts/test.sh runs them against it too).
asan:
	$(MAKE) B=build/asan CC=clang OPT="$(ASAN_OPT)" build/asan/edask
	$(MAKE) B=build/asan CC=clang OPT="$(ASAN_OPT)" check-unit

# One libFuzzer target per parser, each first given the hostile inputs of
# scripts/run-fuzz.sh (2 s per input), then run for FUZZ_SECONDS, or, by
# default, until FUZZ_RUNS executions (make test runs 6 s each).
FUZZ_SECONDS ?=
FUZZ_RUNS ?= 1000000
fuzz:
	$(MAKE) B=build/fuzz CC=clang \
	    OPT="-O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
	    build/fuzz/libedask.a
	set -e; for f in $(FUZZ); do \
	    clang $(CFLAGS) -O1 -fsanitize=fuzzer,address,undefined -Isrc \
	        -o build/fuzz/$$f fuzz/$$f.c build/fuzz/libedask.a $(LDLIBS); \
	    scripts/run-fuzz.sh build/fuzz/$$f fuzz/corpus/$${f#fuzz_} \
	        "$(FUZZ_SECONDS)" $(FUZZ_RUNS); \
	done

integration: all
	scripts/run-integration.sh

# The controller's lines its unit tests reach (gcov, build/cov).
coverage:
	scripts/coverage.sh

deps:
	scripts/deps.sh

demo: deps all
	scripts/demo.sh

test: deps
	scripts/test.sh

# The benches run as a Dask user of the .venv would (they set EDASK_PYTHON
# to their own interpreter for the instances).
bench: deps all
	$(VENV_PY) bench/scaleup.py
	$(VENV_PY) bench/bursty.py
	$(VENV_PY) bench/backlog.py
	$(VENV_PY) bench/reclaim.py
	$(VENV_PY) bench/footprint.py
	$(VENV_PY) bench/tls.py

# edask against dask-jobqueue on a three-node Slurm cluster in network
# namespaces (root; slurmctld and slurmd from make deps).
bench-slurm: deps all
	$(VENV_PY) bench/slurm_vs_jobqueue.py

# The controller at scale (bench/sim/sim.c): the real decision code over
# a simulated fleet, 100 to 8,000 GPUs, then 8,000 GPUs and 200 instances
# through a compressed day.  The link wraps the controller's clocks and
# the loop's timerfd, so that it runs on simulated time (see sim.c).
SIM_WRAP := -Wl,--wrap=mono_ms,--wrap=wall_ms,--wrap=timerfd_settime

$(B)/sim: bench/sim/sim.c tests/fake/fake_ctl.h $(HDR) $(FAKEOBJ) \
    $(B)/libedask.a
	$(CC) $(CFLAGS) -Isrc -Itests/fake -o $@ $< $(FAKEOBJ) $(B)/libedask.a \
	    $(SIM_WRAP) $(LDLIBS)

bench-sim: deps all $(B)/sim
	$(B)/sim --sweep --plot "$(VENV_PY) bench/sim/plot.py"

clean:
	rm -rf build
