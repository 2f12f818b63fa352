# chatctl: the operator's CLI.
PROGS += chatctl
chatctl_SRCS := src/chatctl/main.c src/chatctl/out.c src/chatctl/rpc.c \
                src/chatctl/cmd_stack.c src/chatctl/cmd_data.c
chatctl_LIBS :=
