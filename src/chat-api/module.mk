# chat-api: the HTTP JSON API on libwebsockets' libev foreign loop.
PROGS += chat-api
chat-api_SRCS := src/chat-api/main.c src/chat-api/http.c \
                 src/chat-api/routes.c src/chat-api/backend.c \
                 src/chat-api/auth.c src/chat-api/validate.c \
                 src/chat-api/users.c src/chat-api/session.c \
                 src/chat-api/friends.c src/chat-api/groups.c \
                 src/chat-api/presence.c src/chat-api/history.c \
                 src/chat-api/push.c src/chat-api/discover.c \
                 src/chat-api/control.c src/chat-api/static.c \
                 src/chatd/limits.c src/chatd/strmap.c src/chatd/lwstimer.c
chat-api_LIBS := $(shell pkg-config --libs libwebsockets 2>/dev/null || echo -lwebsockets)
