# presence-load: heartbeat load driver for presenced (capacity figures).
PROGS += presence-load
presence-load_SRCS := src/presence-load/main.c
presence-load_LIBS :=
