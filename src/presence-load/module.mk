# presence-load: heartbeat load driver for presenced (capacity figures).
PROGS += presence-load
presence-load_SRCS := src/presence-load/main.c src/presence-load/link.c \
                      src/chatd/presence_link.c
presence-load_LIBS :=
