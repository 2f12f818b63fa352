# libFuzzer targets (RELIABILITY.md row 22): tests/fuzz/fuzz_<target>.c,
# built with clang-14 -fsanitize=fuzzer,address,undefined against a libchat
# (and chatd's frames.c) compiled for fuzzing in build/fuzz.  Seed corpora
# and every past crash input live in tests/fuzz/corpus/<target>/.
#
#   make fuzz-build     the targets, in build/fuzz/
#   make fuzz           60 s each (FUZZ_SECS), new inputs in build/fuzz/corpus-*
#   make fuzz-replay    each corpus input once
# make test runs tests/99-fuzz.bats (replay, then 10 s each); make test-long
# tests/long/row-22-fuzz.bats (5 minutes each).

FUZZ_CC      ?= clang-14
FUZZ_SECS    ?= 60
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = -std=gnu11 -g -O1 -fno-omit-frame-pointer -Ilib -iquote src/chatd \
                -D_GNU_SOURCE $(FUZZ_SAN) \
                $(shell pkg-config --cflags libwebsockets 2>/dev/null)
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ_TARGETS))
FUZZ_LIBOBJS := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(LIBCHAT_SRCS))
# What a target links besides libchat: chatd's frame code for fuzz_frame.
FUZZ_EXTRA_frame := $(FUZZ_BUILD)/src/chatd/frames.o $(FUZZ_BUILD)/src/chatd/strmap.o \
                    $(FUZZ_BUILD)/src/chatd/outq.o

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# An archive, so a target's stand-ins (fuzz_frame's ipc_call) win.
$(FUZZ_BUILD)/libchat.a: $(FUZZ_LIBOBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libchat.a $(FUZZ_EXTRA_frame)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_EXTRA_$*) \
	  $(FUZZ_BUILD)/libchat.a $(LIBCHAT_LIBS)

# Kept between runs (make would delete them as intermediates).
.SECONDARY: $(FUZZ_EXTRA_frame)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$t tests/fuzz/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECS) s"; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECS) -rss_limit_mb=2048 \
	    -timeout=25 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash-$$t- \
	    $(FUZZ_BUILD)/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

fuzz-replay: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_BUILD)/fuzz_$$t -rss_limit_mb=2048 -timeout=25 \
	    tests/fuzz/corpus/$$t/* >$(FUZZ_BUILD)/replay-$$t.log 2>&1 || \
	    { tail -30 $(FUZZ_BUILD)/replay-$$t.log; exit 1; }; \
	  echo "$$t: $$(ls tests/fuzz/corpus/$$t | wc -l) inputs replayed"; \
	done

.PHONY: fuzz fuzz-build fuzz-replay
