# chat-route: ids, the store append, acks and fan-out to chatds.
PROGS           += chat-route
chat-route_SRCS := src/chat-route/main.c src/chat-route/ops.c \
                   src/chat-route/peers.c src/chat-route/send.c \
                   src/chat-route/relay.c src/chat-route/push.c \
                   src/chatd/strmap.c
chat-route_LIBS :=
