# presenced: online status, heartbeats, last_active_at, presence fan-out.
PROGS += presenced
presenced_SRCS := src/presenced/main.c src/presenced/ops.c \
                  src/presenced/state.c src/presenced/store.c \
                  src/presenced/query.c src/presenced/table.c \
                  src/presenced/batch.c src/presenced/shard.c \
                  src/presenced/standby.c
presenced_LIBS :=
