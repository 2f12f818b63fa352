/*
 * Every configuration key, its default and a one-line meaning: the one table
 * of chat.conf(5).  X(key, default, meaning).  Add a key here and in the man
 * page together.
 */
X(node_id,            "0",                "message id node number, 0..1023")
X(store_sync,         "true",             "chat-store syncs every write before it answers")
X(store_paranoid,     "true",             "LevelDB paranoid_checks: refuse a corrupt database")
X(group_max_members,  "100",              "largest group")
X(api_listen,         "127.0.0.1:8080",   "chat-api address")
X(chatd_listen,       "127.0.0.1:8081",   "chatd address")
X(chatd_url,          "ws://127.0.0.1:8081/v1/ws", "WebSocket URL given to clients until chatd reports its own")
X(token_ttl,          "2592000",          "seconds a login token lives")
X(max_body,           "65536",            "largest HTTP body chat-api accepts, bytes")
X(max_frame,          "65536",            "largest WebSocket frame chatd accepts, bytes")
X(max_message,        "16384",            "largest message body, bytes")
X(presence_timeout,   "30",               "seconds of silence before a device is offline")
X(heartbeat_interval, "5",                "seconds between client heartbeats")
X(auth_timeout,       "10",               "seconds a new WebSocket has to send auth")
X(rate_limit,         "20",               "messages per second a device may send, sustained")
X(rate_burst,         "100",              "messages a device may send in a burst")
X(send_queue_max,     "1048576",          "bytes queued to one slow WebSocket before it is closed")
X(ipc_max_line,       "1048576",          "longest internal NDJSON line, bytes")
X(push_preview,       "false",            "push notifications carry the message text")
X(log_level,          "1",                "0 warnings, 1 info, 2 debug")
