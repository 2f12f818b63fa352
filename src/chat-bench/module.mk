# chat-bench: the load generator (libwebsockets client on libev, libcurl
# for set-up through chat-api).
PROGS += chat-bench
chat-bench_SRCS := src/chat-bench/main.c src/chat-bench/run.c \
                   src/chat-bench/opts.c \
                   src/chat-bench/setup.c src/chat-bench/mint.c \
                   src/chat-bench/state.c src/chat-bench/conn.c \
                   src/chat-bench/proto_chat.c src/chat-bench/proto_mqtt.c \
                   src/chat-bench/load.c src/chat-bench/hist.c \
                   src/chat-bench/jscan.c src/chat-bench/procs.c \
                   src/chat-bench/report.c
chat-bench_LIBS := $(shell pkg-config --libs libwebsockets 2>/dev/null || echo -lwebsockets) -lcurl -lcrypt
