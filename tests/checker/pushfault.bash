# Helpers of the push fault rows (tests/long/row-18-*, row-19-*): the
# webhook stub's control file and log, offline devices with a webhook
# registration, sends to them, and the fault schedule.  Load after helpers
# and checker/stack; the suite sets HOOK (the stub's URL), URL and DRV.

stub_ctl() {
	printf '%s' "$1" > "$BATS_TEST_TMPDIR/hook.ctl.tmp"
	mv "$BATS_TEST_TMPDIR/hook.ctl.tmp" "$BATS_TEST_TMPDIR/hook.ctl"
}
reqs() { jq -c "select(${1:-true})" "$BATS_TEST_TMPDIR/hook.log"; }
nreqs() { reqs "$@" | wc -l; }
nreqs_ge() { [ "$(nreqs "$2")" -ge "$1" ]; }
now() { date +%s.%N; }

# register USER: a new device of USER with a webhook registration at
# $HOOK/USER/DEVICE; prints the device id
register() {
	local dev r
	dev=$(jqr "$(ipc store "{\"op\":\"device.login\",\"user\":\"$1\"}")" .device)
	r=$(ipc store "$(jq -cn --arg u "$1" --arg d "$dev" --arg e "$HOOK/$1/$dev" \
	    '{op:"push.set", user:$u, device:$d, provider:"webhook", endpoint:$e}')")
	[ "$(jqr "$r" .ok)" = true ] || { echo "push.set: $r" >&2; return 1; }
	echo "$dev"
}

# send_to USER: alice (a new device each time) sends USER one message
send_to() {
	"$PY" "$DRV" send --url "$URL" --from alice --to "$1" >/dev/null
	SENT[$1]=$(( ${SENT[$1]:-0} + 1 ))
}

# until_since T0 SECS: sleeps until SECS after T0 (the fault's schedule,
# not a wait for a condition)
until_since() {
	local rest
	rest=$(awk -v t0="$1" -v s="$2" -v n="$(now)" 'BEGIN { r = t0 + s - n; printf "%.3f", (r > 0 ? r : 0) }')
	sleep "$rest"
}
