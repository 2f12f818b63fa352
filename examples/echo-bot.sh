#!/bin/sh
# echo-bot.sh: an echo bot in one pipeline.  Answers every message that
# reaches the logged-in user with "echo: " and its text: a direct message
# goes back to its sender, a group message to the group.
#
#   chat login --password-stdin bot <<< "$password"
#   examples/echo-bot.sh
#
# chat listen prints each message once, as NDJSON, and resumes from its
# cursor after any disconnect (so a bot that was down answers what came
# meanwhile); jq turns each one into a reply; chat send --json sends each
# reply and waits for its ack.  The bot's own messages (sent by chat send,
# which is a second device of the same login) come back through listen too,
# and are skipped.  Stop it with SIGTERM to its process group.
set -eu

me=$(chat whoami --format text)
chat listen | jq -c --unbuffered --arg me "$me" '
	select(.type == "msg" and .from != $me)
	| (if .group then {group: .group} else {to: .from} end)
	  + {body: ("echo: " + .body)}' | chat send --json
