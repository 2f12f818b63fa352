# chat-push: the push notification daemon and --stdin filter.
PROGS += chat-push
chat-push_SRCS := src/chat-push/main.c src/chat-push/ops.c \
                  src/chat-push/queue.c src/chat-push/sched.c src/chat-push/batch.c \
                  src/chat-push/job.c src/chat-push/http.c \
                  src/chat-push/jwt.c src/chat-push/filter.c \
                  src/chat-push/prov.c src/chat-push/prov_webhook.c \
                  src/chat-push/prov_unifiedpush.c src/chat-push/prov_ntfy.c \
                  src/chat-push/prov_fcm.c src/chat-push/prov_apns.c
chat-push_LIBS := -lcurl -lleveldb
