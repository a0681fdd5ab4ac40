# Makefile — builds the one `ovseg` binary and its tests. See README.md.
#   make            build ./ovseg
#   make deps       install Debian packages and the test tools' virtual environment (.venv)
#   make test       build and run every test; ends with "N passed, N failed"
#   make asan       the same with AddressSanitizer + UBSan
#   make bench      figures (tables with baselines measured in the same run)
#   make chaos      kill -9 at random moments, restart, compare (tests/chaos/chaos_*.sh)
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
LDFLAGS += -fopenmp

MODULES  = util db ingest entities shards train eval
LIB_SRC  = $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/sql.o
TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
DEP      = $(LIB_OBJ:.o=.d) $(BUILD)/ovseg.d

# Debian packages: build, runtime, test servers and data.
DEBS = build-essential pkg-config libsqlite3-dev libarchive-dev libcurl4-openssl-dev libssl-dev libpcre2-dev \
       libopenblas-dev libwebp-dev libpng-dev libjpeg-dev sqlite3 nginx-light wordnet-base \
       python3 python3-venv gzip bzip2 xz-utils zstd curl ca-certificates

.PHONY: all deps deps-apt deps-venv test asan bench chaos demo install clean
all: ovseg

ovseg: $(BUILD)/ovseg
	@cp $< $@

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

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libovseg.a
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libovseg.a $(LDFLAGS) $(LDLIBS)

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

deps-venv: $(VENV)/.done
$(VENV)/.done: tests/requirements.txt tests/requirements-nodeps.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
	@$(VENV)/bin/pip install -q --disable-pip-version-check --no-deps -r tests/requirements-nodeps.txt
	@touch $@

# ── checks ─────────────────────────────────────────────────────────────────────────────────
test: deps
	@$(MAKE) --no-print-directory ovseg tests
	@sh tests/run.sh $(BUILD)

tests: $(TEST_BIN)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" \
	  LDFLAGS="-fopenmp -fsanitize=address,undefined" build-asan/ovseg $(patsubst $(BUILD)/%,build-asan/%,$(TEST_BIN))
	@ASAN_OPTIONS=detect_leaks=1 OVSEG_BIN=build-asan/ovseg sh tests/run.sh build-asan

bench: deps ovseg
	@sh tests/bench.sh

chaos: deps ovseg
	@for c in tests/chaos/chaos_*.sh; do sh "$$c" || exit 1; done

demo: deps ovseg
	@sh tests/demo.sh

install: ovseg
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 ovseg $(DESTDIR)$(PREFIX)/bin/ovseg

clean:
	rm -rf $(BUILD) build-asan ovseg
