# chat-route: ids, the store append, acks and fan-out to chatds.
PROGS           += chat-route
chat-route_SRCS := src/chat-route/main.c src/chat-route/ops.c \
                   src/chat-route/peers.c src/chat-route/send.c \
                   src/chat-route/relay.c src/chat-route/push.c \
                   src/chat-route/jslog.c src/chat-route/shards.c \
                   src/chat-route/feed.c src/chat-route/standby.c \
                   src/chatd/strmap.c \
                   lib/bus.c lib/bus_ev.c lib/bus_call.c
chat-route_LIBS := -lnats -lpthread
