#!/usr/bin/env bats
# tests/run: alone (timed windows: backoff, super_stable)
# chat-super: a real supervisor running a stack.conf of small stand-in
# programs (tests/fixtures/svc: each logs "start"/"stop" lines to
# $CHAT_HOME/events and behaves as its mode says) and, when it is built,
# the real chat-store.

load helpers

setup() {
	chat_setup
	SVC="$BATS_TEST_DIRNAME/fixtures/svc"
	EVENTS="$CHAT_HOME/events"
	: > "$EVENTS"
	# Short timers so that each case takes seconds, not minutes.
	export CHAT_SUPER_STOP_GRACE=1 CHAT_SUPER_READY_TIMEOUT=3
	export CHAT_SUPER_FAIL_COUNT=3 CHAT_SUPER_BACKOFF_MAX=4
}

teardown() {
	chat_teardown
}

stack() { cat > "$CHAT_HOME/etc/stack.conf"; }

start_super() {
	start_daemon chat-super
	SUPER_PID=$LAST_PID
	wait_for_sock "$CHAT_RUN/super.sock"
}

# field NAME KEY: one program's field from chat-super's status.
field() {
	ipc super '{"op":"status"}' |
	    jq -r --arg n "$1" ".programs[] | select(.name == \$n) | .$2"
}

is_state() { [ "$(field "$1" state)" = "$2" ]; }

starts() { grep -c "^start $1 " "$EVENTS" || true; }
started_at_least() { [ "$(starts "$1")" -ge "$2" ]; }

# Nanosecond start times of NAME, one a line.
start_times() { awk -v n="$1" '$1 == "start" && $2 == n { print $4 }' "$EVENTS"; }

gone() { ! kill -0 "$1" 2>/dev/null; }

# backed_off NAME N: chat-super's log holds its Nth "NAME: restarting in"
# (the backoff state it enters then lasts 1 s, less than one status poll
# takes on a loaded machine, so a poll of the state alone can miss it).
backed_off() {
	[ "$(grep -c "$1: restarting in" "$CHAT_HOME/log/chat-super.log")" -ge "$2" ]
}

@test "chat-super --help, a bad option and --print-config of the built-in stack" {
	run "$CHAT_BIN/chat-super" --help
	assert_success
	assert_output --partial "usage: chat-super"
	run "$CHAT_BIN/chat-super" --bogus
	assert_equal "$status" 100
	assert_output --partial "unknown option '--bogus'"
	run "$CHAT_BIN/chat-super" --print-config
	assert_success
	assert_output --partial "# built-in"
	# Dependency order: store first, chatd after route.
	[ "$(echo "$output" | sed -n 2p | awk '{print $1}')" = store ]
	order=$(echo "$output" | awk 'NR > 1 { printf "%s ", $1 }')
	assert_equal "$order" "store route presence push chatd api "
}

@test "a stack.conf with an unknown need, a cycle or a bad name is refused with exit 100" {
	echo "a  b  $SVC a ok" | stack
	run "$CHAT_BIN/chat-super"
	assert_equal "$status" 100
	assert_output --partial "'a' needs 'b', which is not in the stack"
	printf 'a b %s a ok\nb a %s b ok\n' "$SVC" "$SVC" | stack
	run "$CHAT_BIN/chat-super"
	assert_equal "$status" 100
	assert_output --partial "is in a cycle of needs"
	echo "A/b  -  $SVC x ok" | stack
	run "$CHAT_BIN/chat-super"
	assert_equal "$status" 100
	assert_output --partial "bad name 'A/b'"
	# Nothing was started and no lock or socket was left behind.
	[ ! -s "$EVENTS" ]
	[ ! -e "$CHAT_RUN/super.sock" ]
}

@test "the first start makes CHAT_HOME's log, db and run directories, mode 0700" {
	export CHAT_HOME="$BATS_TEST_TMPDIR/fresh/home"
	unset CHAT_RUN
	mkdir -p "$CHAT_HOME/etc"
	echo "a - $SVC a ok" | stack
	# Its log cannot go under a CHAT_HOME that does not exist yet.
	"$CHAT_BIN/chat-super" 2>"$BATS_TEST_TMPDIR/fresh.log" &
	track_pid $! chat-super
	wait_for_sock "$CHAT_HOME/run/super.sock"
	for d in log db run; do
		[ "$(stat -c %a "$CHAT_HOME/$d")" = 700 ]
	done
}

@test "programs start in dependency order, each after what it needs is ready" {
	# Listed out of order on purpose; b is slow to get ready.
	stack <<-EOF
	# name  needs  command
	c       a,b    $SVC c ok
	b       a      $SVC b slow 0.5
	a       -      "$SVC" a ok
	x       -      no-such-program
	EOF
	start_super
	wait_until 10 is_state c up
	assert_equal "$(awk '$1 == "start" { printf "%s ", $2 }' "$EVENTS")" "a b c "
	# c was started only after b said ready, 0.5 s after b started.
	b0=$(start_times b) c0=$(start_times c)
	[ $(( (c0 - b0) / 1000000 )) -ge 450 ]
	log=$(cat "$CHAT_HOME/log/chat-super.log")
	[[ "$log" == *"b: ready"*"c: started"* ]]
	assert_equal "$(field x state)" skipped
	[[ "$log" == *"x: skipped"* ]]
	assert_equal "$(field a needs | jq -c .)" '[]'
	assert_equal "$(field c needs | jq -c .)" '["a","b"]'
}

@test "a program killed with SIGKILL is restarted after at least 1 s, with a new pid" {
	echo "a - $SVC a ok" | stack
	start_super
	wait_until 10 is_state a up
	old=$(field a pid)
	t0=$(date +%s%N)
	kill -KILL "$old"
	wait_until 10 backed_off a 1
	wait_until 10 is_state a up
	new=$(field a pid)
	t1=$(start_times a | tail -n 1)
	[ "$new" != "$old" ]
	gone "$old"
	assert_equal "$(field a restarts)" 1
	assert_equal "$(field a last_exit)" "signal 9"
	[ $(( (t1 - t0) / 1000000 )) -ge 1000 ]
	# Its log holds the lines of both runs.
	assert_equal "$(grep -c 'started in mode ok' "$CHAT_HOME/log/a.log")" 2
}

@test "exit 100 (usage) and exit 102 (corrupt) are fatal and never restarted" {
	stack <<-EOF
	u - $SVC u usage
	k - $SVC k corrupt
	EOF
	start_super
	wait_until 10 is_state u fatal
	wait_until 10 is_state k fatal
	sleep 1.5
	assert_equal "$(starts u)" 1
	assert_equal "$(starts k)" 1
	assert_equal "$(field u last_exit)" "exit 100"
	assert_equal "$(field k last_exit)" "exit 102"
	assert_equal "$(field u pid)" null
	grep -q "u: fatal" "$CHAT_HOME/log/chat-super.log"
}

@test "a crash loop backs off (1 s, then 2 s) and ends failed, without spinning" {
	echo "loop - $SVC loop crash" | stack
	start_super
	wait_until 15 is_state loop failed
	# CHAT_SUPER_FAIL_COUNT=3: three runs, then no more.
	sleep 1.2
	assert_equal "$(starts loop)" 3
	mapfile -t t < <(start_times loop)
	[ $(( (t[1] - t[0]) / 1000000 )) -ge 1000 ]
	[ $(( (t[2] - t[1]) / 1000000 )) -ge 2000 ]
	# No busy spin: chat-super used under 0.5 s of CPU in those ~3 s.
	read -r ut st < <(awk '{print $14, $15}' "/proc/$SUPER_PID/stat")
	[ $(( ut + st )) -lt $(( $(getconf CLK_TCK) / 2 )) ]
	assert_equal "$(field loop restarts)" 2
	grep -q "loop: failed: 3 quick crashes in a row" "$CHAT_HOME/log/chat-super.log"
}

@test "a program SIGKILLed again and again right after ready is backed off (1 s, 2 s, 4 s) but never given up" {
	echo "v - $SVC v ok" | stack
	start_super
	for i in 1 2 3 4; do
		wait_until 15 is_state v up
		kill -KILL "$(field v pid)"
		wait_until 5 backed_off v "$i"
		# The 3rd pause lasts 4 s: long enough to see it in status.
		[ "$i" != 3 ] || wait_until 4 is_state v backoff
	done
	wait_until 15 is_state v up
	assert_equal "$(field v restarts)" 4
	mapfile -t t < <(start_times v)
	[ $(( (t[2] - t[1]) / 1000000 )) -ge 2000 ]
	[ $(( (t[3] - t[2]) / 1000000 )) -ge 4000 ]
	# CHAT_SUPER_BACKOFF_MAX=4 caps the pause.
	[ $(( (t[4] - t[3]) / 1000000 )) -lt 6000 ]
}

@test "a program that never signals ready is stopped after the ready timeout and retried" {
	export CHAT_SUPER_READY_TIMEOUT=1
	stack <<-EOF
	slow - $SVC slow noready
	dep  slow $SVC dep ok
	EOF
	start_super
	wait_until 10 grep -q "slow: not ready after 1000 ms" "$CHAT_HOME/log/chat-super.log"
	wait_until 10 started_at_least slow 2
	# What needs it is never started.
	assert_equal "$(field dep state)" waiting
	assert_equal "$(starts dep)" 0
}

@test "restart op: a failed program is started again on request" {
	echo "f - $SVC f crash" | stack
	start_super
	wait_until 15 is_state f failed
	run ipc super '{"op":"restart","name":"f"}'
	assert_output --partial '"ok":true'
	wait_until 5 started_at_least f 4
	run ipc super '{"op":"restart","name":"nope"}'
	assert_output --partial '"not_found"'
	run ipc super '{"op":"dance"}'
	assert_output --partial '"unknown_op"'
	run ipc super '{"op":"ping"}'
	assert_output --partial '"ok":true'
}

@test "SIGTERM stops the programs in reverse order, SIGKILLs a stubborn one, leaves no process" {
	stack <<-EOF
	a - $SVC a ok
	b a $SVC b ok
	c b $SVC c ok
	s a $SVC s stubborn
	EOF
	start_super
	wait_until 10 is_state c up
	wait_until 10 is_state s up
	pids=$(ipc super '{"op":"status"}' | jq -r '.programs[].pid')
	kill -TERM "$SUPER_PID"
	wait_until 10 gone "$SUPER_PID"
	wait "$SUPER_PID" && rc=0 || rc=$?
	assert_equal "$rc" 0
	stops=$(awk '$1 == "stop" { printf "%s ", $2 }' "$EVENTS")
	# c before b, b and s (which ignored SIGTERM) before a.
	assert_equal "$stops" "c b a "
	grep -q "s: pid .* still running .* SIGKILL" "$CHAT_HOME/log/chat-super.log"
	for p in $pids; do
		gone "$p"
		# Nor anything in its process group (the fixtures' sleeps).
		! pgrep -g "$p" >/dev/null
	done
	[ ! -e "$CHAT_RUN/super.sock" ]
}

@test "a second chat-super on the same CHAT_HOME is refused with exit 111" {
	echo "a - $SVC a ok" | stack
	start_super
	wait_until 10 is_state a up
	run "$CHAT_BIN/chat-super"
	assert_equal "$status" 111
	assert_output --partial "another chat-super runs for '$CHAT_HOME' (pid $SUPER_PID)"
	# The first one is untouched.
	assert_equal "$(starts a)" 1
	run ipc super '{"op":"ping"}'
	assert_success
}

@test "a chat-super killed with SIGKILL takes its programs with it; a new one starts cleanly" {
	stack <<-EOF
	a - $SVC a ok
	b a $SVC b ok
	EOF
	start_super
	wait_until 10 is_state b up
	pids=$(ipc super '{"op":"status"}' | jq -r '.programs[].pid')
	kill -KILL "$SUPER_PID"
	for p in $pids; do wait_until 5 gone "$p"; done
	start_super
	wait_until 10 is_state b up
	assert_equal "$(starts a)" 2
}

@test "programs' stdout and stderr go to log/<name>.log, appended" {
	echo "a - $SVC a ok" | stack
	start_super
	wait_until 10 is_state a up
	grep -q "a: started in mode ok" "$CHAT_HOME/log/a.log"
	grep -q "a: ready" "$CHAT_HOME/log/a.log"
	kill -TERM "$SUPER_PID"
	wait_until 10 gone "$SUPER_PID"
	grep -q "a: stopping" "$CHAT_HOME/log/a.log"
	[ "$(stat -c %a "$CHAT_HOME/log/a.log")" = 600 ]
}

@test "with the real chat-store: ready, restarted after SIGKILL, answers again" {
	[ -x "$CHAT_BIN/chat-store" ] || skip "chat-store is not built"
	echo "store - chat-store" | stack
	start_super
	wait_until 15 is_state store up
	run ipc store '{"op":"ping"}'
	assert_output --partial '"ok":true'
	old=$(field store pid)
	kill -KILL "$old"
	wait_until 15 backed_off store 1
	wait_until 15 is_state store up
	new=$(field store pid)
	[ "$new" != "$old" ]
	run ipc store '{"op":"ping"}'
	assert_output --partial '"ok":true'
	kill -TERM "$SUPER_PID"
	wait_until 10 gone "$SUPER_PID"
	gone "$new"
}

@test "the built-in stack: chat-api answers, is restarted after SIGKILL and answers again; stop leaves nothing" {
	[ -x "$CHAT_BIN/chat-store" ] && [ -x "$CHAT_BIN/chat-api" ] ||
	    skip "chat-store or chat-api is not built"
	export CHAT_API_LISTEN=127.0.0.1:$(free_port)
	export CHAT_CHATD_LISTEN=127.0.0.1:$(free_port)
	health() { curl -sf "http://$CHAT_API_LISTEN/v1/health" | grep -q '"ok"'; }
	start_super
	wait_until 15 is_state api up
	wait_until 10 health
	old=$(field api pid)
	kill -KILL "$old"
	wait_until 15 is_state api up
	[ "$(field api pid)" != "$old" ]
	wait_until 10 health
	pids=$(ipc super '{"op":"status"}' | jq -r '.programs[].pid | values')
	kill -TERM "$SUPER_PID"
	wait_until 15 gone "$SUPER_PID"
	for p in $pids; do gone "$p"; done
}

@test "the backoff resets once a program has stayed up super_stable seconds" {
	export CHAT_SUPER_STABLE=2
	echo "v - $SVC v ok" | stack
	start_super
	# Two kills right after ready: 1 s, then 2 s.
	for i in 1 2; do
		wait_until 15 is_state v up
		kill -KILL "$(field v pid)"
		wait_until 5 backed_off v "$i"
	done
	wait_until 15 is_state v up
	# Up past super_stable: the next pause is 1 s again.
	stayed() { [ "$(field v uptime_ms)" -ge 2500 ]; }
	wait_until 15 stayed
	kill -KILL "$(field v pid)"
	wait_until 5 backed_off v 3
	assert_equal "$(grep -o 'v: restarting in [0-9]* ms' "$CHAT_HOME/log/chat-super.log" |
	    awk '{ printf "%s ", $4 }')" "1000 2000 1000 "
}

@test "status gives each program's pid, state, uptime and restarts" {
	echo "a - $SVC a ok" | stack
	start_super
	wait_until 10 is_state a up
	uptime_grows() { [ "$(field a uptime_ms)" -ge 200 ]; }
	wait_until 10 uptime_grows
	assert_equal "$(ipc super '{"op":"status"}' |
	    jq -c '.programs[0] | [(.pid|type), .state, (.uptime_ms|type), .restarts]')" \
	    '["number","up","number",0]'
	kill -0 "$(field a pid)"
}

@test "SIGINT stops the programs in reverse order like SIGTERM and leaves no process" {
	stack <<-EOF
	a - $SVC a ok
	b a $SVC b ok
	EOF
	start_super
	wait_until 10 is_state b up
	pids=$(ipc super '{"op":"status"}' | jq -r '.programs[].pid')
	kill -INT "$SUPER_PID"
	wait_until 10 gone "$SUPER_PID"
	wait "$SUPER_PID" && rc=0 || rc=$?
	assert_equal "$rc" 0
	assert_equal "$(awk '$1 == "stop" { printf "%s ", $2 }' "$EVENTS")" "b a "
	for p in $pids; do gone "$p"; done
	[ ! -e "$CHAT_RUN/super.sock" ]
}

@test "chat-run (make run): a new CHAT_HOME made, the built-in stack up, where things are printed, Ctrl-C stops it all" {
	[ -x "$CHAT_BIN/chat-run" ] && [ -x "$CHAT_BIN/chat-api" ] ||
	    skip "chat-run or chat-api is not built"
	export CHAT_HOME="$BATS_TEST_TMPDIR/new/var"
	unset CHAT_RUN
	export CHAT_API_LISTEN=127.0.0.1:$(free_port)
	export CHAT_CHATD_LISTEN=127.0.0.1:$(free_port)
	export CHAT_CHATD_URL=ws://$CHAT_CHATD_LISTEN/v1/ws
	out=$BATS_TEST_TMPDIR/run.out
	"$CHAT_BIN/chat-run" > "$out" 2>&1 &
	run_pid=$!
	track_pid "$run_pid" chat-run
	wait_for_sock "$CHAT_HOME/run/super.sock" 15
	export CHAT_RUN=$CHAT_HOME/run
	grep -q "HTTP API    http://$CHAT_API_LISTEN/v1/health" "$out"
	grep -q "WebSocket   $CHAT_CHATD_URL" "$out"
	grep -q "database    $CHAT_HOME/db" "$out"
	for d in "" /etc /log /db /run; do
		[ "$(stat -c %a "$CHAT_HOME$d")" = 700 ]
	done
	all_up() {
		[ "$(ipc super '{"op":"status"}' | jq -r '[.programs[].state] | unique | join(",")')" = up ]
	}
	wait_until 30 all_up
	assert_equal "$(ipc super '{"op":"status"}' | jq -r '[.programs[].name] | join(" ")')" \
	    "store route presence push chatd api"
	health() { curl -sf "http://$CHAT_API_LISTEN/v1/health" | grep -q '"ok"'; }
	wait_until 10 health
	pids=$(ipc super '{"op":"status"}' | jq -r '.programs[].pid | values')
	# chat-run became chat-super: Ctrl-C reaches it as SIGINT
	kill -INT "$run_pid"
	wait_until 15 gone "$run_pid"
	wait "$run_pid" && rc=0 || rc=$?
	assert_equal "$rc" 0
	for p in $pids; do gone "$p"; done
	[ ! -e "$CHAT_HOME/run/super.sock" ]
}

@test "stack.conf: NAME=value words and quotes set a program's environment; --print-config marks what is not installed" {
	wrap=$BATS_TEST_TMPDIR/wrap
	printf '#!/bin/sh\necho "FOO is <$FOO>" >&2\nexec "$@"\n' > "$wrap"
	chmod +x "$wrap"
	stack <<-EOF
	e - FOO="two words" $wrap $SVC e ok
	m - no-such-program
	EOF
	run "$CHAT_BIN/chat-super" --print-config
	assert_success
	assert_line --regexp '^m +- +no-such-program +# skipped: not installed$'
	start_super
	wait_until 10 is_state e up
	grep -q 'FOO is <two words>' "$CHAT_HOME/log/e.log"
	assert_equal "$(field m state)" skipped
}

@test "SIGHUP is ignored; a second SIGTERM during the stop SIGKILLs at once" {
	export CHAT_SUPER_STOP_GRACE=60
	stack <<-EOF
	a - $SVC a ok
	s a $SVC s stubborn
	EOF
	start_super
	wait_until 10 is_state s up
	pid=$(field s pid)
	kill -HUP "$SUPER_PID"
	wait_until 5 grep -q "SIGHUP ignored" "$CHAT_HOME/log/chat-super.log"
	assert_equal "$(field s pid)" "$pid"
	assert_equal "$(field s state)" up
	kill -TERM "$SUPER_PID"
	wait_until 5 grep -q "s: ignoring SIGTERM" "$CHAT_HOME/log/s.log"
	# the stubborn one would hold the stop for its 60 s grace
	kill -TERM "$SUPER_PID"
	wait_until 10 gone "$pid"
	wait_until 10 gone "$SUPER_PID"
	[ ! -e "$CHAT_RUN/super.sock" ]
}
