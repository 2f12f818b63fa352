#!/bin/sh
# broadcast.sh: sends each line of a file to a list of users, or to a group.
#
#   examples/broadcast.sh FILE USER...
#   examples/broadcast.sh FILE --group GID
#
# Every line is one message; each is waited for until the server acked it
# (stored it on disk).  For a list of users, jq pairs each line with each
# user and one `chat send --json` sends them all on one connection.  The
# exit status is chat send's: 0 only if every message was acked, 1 if the
# server refused some (an unknown user, say: the others still get theirs),
# 111 if the server could not be reached.
set -eu

usage() {
	echo "usage: broadcast.sh FILE USER... | broadcast.sh FILE --group GID" >&2
	exit 100
}

[ $# -ge 2 ] || usage
file=$1
shift
[ -r "$file" ] || { echo "broadcast.sh: unable to read '$file'" >&2; exit 100; }

if [ "$1" = --group ]; then
	[ $# -eq 2 ] || usage
	exec chat send --group "$2" < "$file"
fi

jq -R -c --args 'select(length > 0) as $line
	| $ARGS.positional[] | {to: ., body: $line}' "$@" < "$file" |
    chat send --json
