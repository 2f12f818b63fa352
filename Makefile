# The chat stack: plain GNU make.  Each program's files are listed in its own
# src/<program>/module.mk, lib/ in lib/module.mk, so one program's change
# never touches another's build lines.
#
#   make            build every program into bin/
#   make deps       install the Debian packages the build and tests need
#   make test       build, then run the C unit tests and the bats suites
#   make asan       the same programs built with ASan+UBSan into build/asan/bin
#   make test-asan  the test suite against the sanitizer build
#   make run        the local stack on the embedded defaults, in the foreground
#   make install PREFIX=/usr/local
#   make clean

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build/release
BIN     ?= bin
OPT     ?= -O2 -g
SAN     ?=

WARN     = -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes
CPPFLAGS = -Ilib -D_GNU_SOURCE -MMD -MP
CFLAGS   = -std=gnu11 $(OPT) $(WARN) $(SAN) $(shell pkg-config --cflags libwebsockets libcurl 2>/dev/null)
LDFLAGS  = $(SAN)
# Every program links libchat and what libchat needs.
LIBCHAT_LIBS = -ljq -lev -lcrypto

PROGS   :=
.DEFAULT_GOAL := all
# Before the fragments: their rules name it as a prerequisite, and a
# prerequisite is expanded as the rule is read (make -j linked the unit
# tests before the archive existed).
LIBCHAT := $(BUILD)/libchat.a
include lib/module.mk
include $(sort $(wildcard src/*/module.mk))
# Test and benchmark fragments: tests/<kind>/module.mk, bench/module.mk.
include $(sort $(wildcard tests/*/module.mk)) $(wildcard bench/module.mk)

LIBCHAT_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(LIBCHAT_SRCS))

all: $(addprefix $(BIN)/,$(PROGS)) scripts

# One link rule per program, from its module.mk's <prog>_SRCS and <prog>_LIBS.
define PROGRAM_template
$(1)_OBJS := $$(patsubst %.c,$$(BUILD)/%.o,$$($(1)_SRCS))
$$(BIN)/$(1): $$($(1)_OBJS) $$(LIBCHAT)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$($(1)_OBJS) $$(LIBCHAT) $$($(1)_LIBS) $$(LIBCHAT_LIBS)
DEPFILES += $$($(1)_OBJS:.o=.d)
endef
$(foreach p,$(PROGS),$(eval $(call PROGRAM_template,$(p))))

$(LIBCHAT): $(LIBCHAT_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Shell programs kept in scripts/ are copied to bin/ as they are.
SCRIPTS := $(notdir $(wildcard scripts/*))
scripts: $(addprefix $(BIN)/,$(SCRIPTS))
$(BIN)/%: scripts/%
	@mkdir -p $(@D)
	cp $< $@ && chmod +x $@

DEPFILES += $(LIBCHAT_OBJS:.o=.d) $(UNIT_OBJS:.o=.d)
-include $(DEPFILES)

# Debian packages: the build, the tests, the man page linter.
DEB_PKGS = build-essential pkg-config libwebsockets-dev libwebsockets-evlib-ev \
           libev-dev libleveldb-dev libjq-dev jq libcurl4-openssl-dev libssl-dev \
           libcrypt-dev bats bats-assert bats-support mandoc procps python3 python3-websockets \
           curl socat strace nats-server libnats-dev iproute2 nftables slowhttptest clang-14 libclang-rt-14-dev faketime
deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$(echo $$missing | sed 's/^/ /')"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: deps
	$(MAKE) all unit
	tests/run --bin $(abspath $(BIN)) --unit $(abspath $(BUILD)/unit)

# The long rows of the fault suite (soak, crash loops, fuzzing for minutes):
# tests/long/*.bats, with the same kind of summary line.
test-long: deps all unit
	tests/run -j 1 --bin $(abspath $(BIN)) --unit /nonexistent --label long tests/long/*.bats

# The nightly trials: row 1's 20 kill -9 trials a program, row 22's 30 min a target.
test-nightly: deps all unit
	NIGHTLY_TRIALS=20 FUZZ_SECS=1800 tests/run -j 1 --bin $(abspath $(BIN)) --unit /nonexistent \
	    --label nightly tests/nightly/*.bats tests/long/row-22-fuzz.bats

asan:
	$(MAKE) BUILD=build/asan BIN=build/asan/bin OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all unit

test-asan: deps asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  tests/run --bin $(abspath build/asan/bin) --unit $(abspath build/asan/unit) --label asan

run: deps all
	scripts/chat-run

lint-man:
	mandoc -Tlint -W warning man/man*/*.[0-9]

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man7
	install -m 0755 $(addprefix $(BIN)/,$(PROGS) $(SCRIPTS)) $(DESTDIR)$(PREFIX)/bin
	for s in 1 5 7; do for f in man/man$$s/*.$$s; do [ -e "$$f" ] && \
	  install -m 0644 $$f $(DESTDIR)$(PREFIX)/share/man/man$$s; done; done; true

clean:
	rm -rf build bin

.PHONY: all deps test test-long test-nightly asan test-asan run install clean scripts unit lint-man bench bench-deps bench-relay
