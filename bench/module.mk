# bench: `make bench` and its baseline, a bare libwebsockets relay (not part
# of the product, so not in PROGS: it is built into $(BUILD)/bench).
#
#   make bench-deps   Debian's mosquitto, for the comparison
#   make bench        the matrix of issue 8 against the stack, Mosquitto and
#                     the relay; writes bench/results/<date>.json
#                     (BENCH_ARGS="--quick", "--nice -10", "--points group"
#                     are passed to bench/run)
BENCH_RELAY      := $(BUILD)/bench/lws-relay
BENCH_RELAY_SRCS := bench/lws-relay.c src/chat-bench/jscan.c
BENCH_RELAY_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(BENCH_RELAY_SRCS))

$(BUILD)/bench/lws-relay.o: CPPFLAGS += -Isrc/chat-bench

$(BENCH_RELAY): $(BENCH_RELAY_OBJS) $(BUILD)/libchat.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(BENCH_RELAY_OBJS) $(BUILD)/libchat.a \
	  $(shell pkg-config --libs libwebsockets 2>/dev/null || echo -lwebsockets) \
	  -ljq -lev -lcrypto
DEPFILES += $(BENCH_RELAY_OBJS:.o=.d)

bench-relay: $(BENCH_RELAY)

bench-deps: deps
	@if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then \
	  echo "make bench-deps: installing mosquitto"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends mosquitto; \
	fi

bench: bench-deps all $(BENCH_RELAY)
	bench/run --bin $(abspath $(BIN)) --relay $(abspath $(BENCH_RELAY)) $(BENCH_ARGS)

.PHONY: bench bench-deps bench-relay
