# chat: the end-user client (libcurl for HTTP, libwebsockets for the socket).
PROGS += chat
chat_SRCS := src/chat/main.c src/chat/session.c src/chat/http.c \
             src/chat/ws.c src/chat/print.c src/chat/cmd_account.c \
             src/chat/cmd_send.c src/chat/cmd_listen.c src/chat/cmd_social.c
chat_LIBS := -lwebsockets -lcurl
