# chat-store: the LevelDB owner (daemon) and its command-line modes.
PROGS += chat-store
chat-store_SRCS := src/chat-store/main.c src/chat-store/server.c \
                   src/chat-store/commit.c src/chat-store/tx.c \
                   src/chat-store/db.c src/chat-store/keys.c \
                   src/chat-store/cli.c src/chat-store/ops.c \
                   src/chat-store/ops_user.c src/chat-store/ops_friend.c \
                   src/chat-store/ops_group.c src/chat-store/ops_msg.c \
                   src/chat-store/ops_device.c src/chat-store/ops_presence.c \
                   src/chat-store/ops_raw.c src/chat-store/repair.c \
                   src/chat-store/logw.c src/chat-store/outbox.c \
                   src/chat-store/ops_log.c src/chat-store/feed.c
chat-store_LIBS := -lleveldb -lcrypt -lpthread
