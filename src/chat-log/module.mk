# chat-log: applies the JetStream message log to the local chat-store.
PROGS          += chat-log
chat-log_SRCS  := src/chat-log/main.c src/chat-log/apply.c \
                  src/chat-log/witness.c src/chat-log/follow.c \
                  lib/bus.c lib/bus_ev.c lib/bus_call.c
chat-log_LIBS  := -lnats -lpthread
