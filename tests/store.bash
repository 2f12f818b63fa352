# Helpers of the chat-store suites (10-store, 11-store-cli): load after
# helpers.

# ok JSON: one request; asserts an ok reply, which is left in $reply.
ok() {
	reply=$(ipc store "$1")
	if [ "$(jqr "$reply" .ok)" != true ]; then
		echo "expected ok for $1, got $reply" >&2
		return 1
	fi
}

# err CODE JSON: asserts an error reply with CODE; the reply is in $reply.
err() {
	reply=$(ipc store "$2")
	if [ "$(jqr "$reply" .error.code)" != "$1" ]; then
		echo "expected $1 for $2, got $reply" >&2
		return 1
	fi
}
