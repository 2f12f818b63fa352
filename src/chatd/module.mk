# chatd: the WebSocket server (libwebsockets on the libev loop).
PROGS      += chatd
chatd_SRCS := src/chatd/main.c src/chatd/conn.c src/chatd/ws.c \
              src/chatd/frames.c src/chatd/sync.c src/chatd/upstream.c \
              src/chatd/ctl.c src/chatd/outq.c src/chatd/strmap.c \
              src/chatd/presence.c src/chatd/presence_link.c \
              src/chatd/origin.c src/chatd/lwstimer.c src/chatd/deliver.c \
              src/chatd/droppush.c src/chatd/limits.c \
              src/chatd/alive.c
chatd_LIBS := $(shell pkg-config --libs libwebsockets)
