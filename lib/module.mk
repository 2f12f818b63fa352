# libchat: the modules every program shares.
LIBCHAT_SRCS := lib/log.c lib/conf.c lib/id.c lib/json.c lib/token.c lib/buf.c lib/grant.c \
                lib/ipc.c lib/framer.c lib/ipc_sync.c lib/util.c \
                lib/jflat.c lib/shard.c
