# chat-bus: the stack's lines between a Unix socket and NATS subjects.  It
# alone links libnats (lib/bus*.c are its, until a daemon speaks NATS).
PROGS         += chat-bus
chat-bus_SRCS := src/chat-bus/main.c src/chat-bus/serve.c \
                 src/chat-bus/attach.c src/chat-bus/call.c \
                 src/chat-bus/bench.c src/chat-bus/session.c \
                 src/chat-bus/lsock.c src/chat-bus/kv.c \
                 src/chat-bus/register.c src/chat-bus/lease.c \
                 lib/bus.c lib/bus_ev.c lib/bus_call.c
chat-bus_LIBS := -lnats -lpthread
