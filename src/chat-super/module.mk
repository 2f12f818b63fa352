# chat-super: the supervisor.
PROGS += chat-super
chat-super_SRCS := src/chat-super/main.c src/chat-super/stack.c \
                   src/chat-super/svc.c src/chat-super/ctl.c \
                   src/chat-super/node.c
chat-super_LIBS :=
