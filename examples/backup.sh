#!/bin/sh
# backup.sh: a dated backup of the whole database with `chat-store export`.
#
#   examples/backup.sh [DIR]      writes DIR/chat-backup-YYYY-MM-DD.ndjson
#
# CHAT_HOME says which stack (default ./var), as for every chat program.
# chat-store export reads the database itself, and LevelDB lets only one
# process open it: stop chat-store first (stop the stack, or run this in a
# maintenance window); export refuses while the daemon holds the database.
# The file is written under a temporary name and renamed when complete, so
# a dated file is always a whole backup.  It prints the file's name.
#
# Restore (the stack stopped):
#   1. keep the old database aside:   mv "$CHAT_HOME/db" "$CHAT_HOME/db.old"
#   2. load the backup into a new one: chat-store import < chat-backup-DATE.ndjson
#   3. start the stack again.
# The export is one JSON object per key ({"key","value"}), in key order:
# messages, inboxes, users, groups, cursors.  Import writes every byte back.
# The token secret is not in the database: keep a copy of
# $CHAT_HOME/etc/secret too, or every device has to log in again.
set -eu

dir=${1:-.}
out="$dir/chat-backup-$(date -u +%Y-%m-%d).ndjson"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT

chat-store export > "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "$out"
