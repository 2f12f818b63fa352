#!/usr/bin/env bats
# chat-api's static files (conf web_root): the web page at /, content types,
# cache headers and the Content-Security-Policy, and every way out of the
# root refused: "..", its encodings, NUL, a symlink out, dotfiles.  Raw
# paths go out with curl --path-as-is, so curl does not tidy them first.
# (lws itself folds "/x/../" away and drops a NUL at the very end of the
# path, so "/%00" is "/"; static.c refuses what is left of either.)

load helpers

setup() {
	chat_setup
	SITE="$BATS_TEST_TMPDIR/site"
	mkdir -p "$SITE/sub" "$SITE/.git"
	echo '<!doctype html><title>t</title><script src="app.js"></script>' > "$SITE/index.html"
	echo 'console.log(1);' > "$SITE/app.js"
	echo 'body{}' > "$SITE/style.css"
	printf '\211PNG\r\n\032\n' > "$SITE/logo.png"
	echo 'blob' > "$SITE/data.bin"
	echo 'sub page' > "$SITE/sub/index.html"
	echo 'TOPSECRET' > "$BATS_TEST_TMPDIR/secret.txt"
	echo 'TOPSECRET' > "$SITE/.git/config"
	echo 'TOPSECRET' > "$SITE/.env"
	ln -s ../secret.txt "$SITE/out.txt"
	ln -s /etc "$SITE/etc"
	ln -s index.html "$SITE/same.html"
	export CHAT_CHATD_URL="ws://127.0.0.1:1/v1/ws"
	start_daemon chat-store
	wait_for_sock "$CHAT_RUN/store.sock"
}

teardown() {
	chat_teardown
}

# get PATH [CURL ARGS...]: sets $code (000 if the server closed without an
# answer), $body, $hdrs (lower-cased names).
get() {
	local p=$1; shift
	rm -f "$BATS_TEST_TMPDIR/body"
	code=$(curl -s --path-as-is -o "$BATS_TEST_TMPDIR/body" \
	    -D "$BATS_TEST_TMPDIR/hdrs" -w '%{http_code}' "$@" "$API$p") || true
	body=$(cat "$BATS_TEST_TMPDIR/body" 2>/dev/null || true)
	hdrs=$(sed 's/^\([^:]*\):/\L\1:/' "$BATS_TEST_TMPDIR/hdrs" | tr -d '\r')
}

hdr() { printf '%s\n' "$hdrs" | sed -n "s/^$1: //p"; }

@test "web_root empty (the default): / is the API's 404" {
	start_api
	get /
	[ "$code" = 404 ]
	[ "$(jqr "$body" .error.code)" = not_found ]
}

@test "/ is index.html with its type, cache headers and a tight CSP" {
	CHAT_WEB_ROOT="$SITE" start_api
	get /
	[ "$code" = 200 ]
	[ "$body" = "$(cat "$SITE/index.html")" ]
	[ "$(hdr content-type)" = "text/html; charset=utf-8" ]
	[ "$(hdr cache-control)" = no-cache ]
	[[ "$(hdr etag)" == W/\"* ]]
	[ "$(hdr x-content-type-options)" = nosniff ]
	csp=$(hdr content-security-policy)
	[[ "$csp" == *"default-src 'none'"* ]]
	[[ "$csp" == *"script-src 'self';"* ]]
	[[ "$csp" == *"connect-src 'self' ws://127.0.0.1:*;"* ]]
	[[ "$csp" == *"frame-ancestors 'none'"* ]]
	[[ "$csp" != *unsafe* ]]
}

@test "each extension has its content type; a directory with a slash has its index" {
	CHAT_WEB_ROOT="$SITE" start_api
	get /app.js;    [ "$code" = 200 ]; [ "$(hdr content-type)" = "text/javascript; charset=utf-8" ]
	get /style.css; [ "$code" = 200 ]; [ "$(hdr content-type)" = "text/css; charset=utf-8" ]
	get /logo.png;  [ "$code" = 200 ]; [ "$(hdr content-type)" = image/png ]
	get /data.bin;  [ "$code" = 200 ]; [ "$(hdr content-type)" = application/octet-stream ]
	get /sub/;      [ "$code" = 200 ]; [ "$body" = "sub page" ]
	get /sub;       [ "$code" = 404 ]
	get /same.html; [ "$code" = 200 ]	# a symlink inside the root is fine
	get /nope.html; [ "$code" = 404 ]; [ "$(jqr "$body" .error.code)" = not_found ]
}

@test "no way out of the root: dot-dot and its encodings, NUL, symlinks, dotfiles" {
	CHAT_WEB_ROOT="$SITE" start_api
	for p in /../secret.txt /../../secret.txt /%2e%2e/secret.txt \
	    /%2E%2E/secret.txt /%2e%2e%2fsecret.txt /..%2fsecret.txt \
	    /sub/../../secret.txt /sub/%2e%2e/%2e%2e/secret.txt \
	    /%252e%252e/secret.txt '/..%5csecret.txt' '/sub%5c..%5c..%5csecret.txt' \
	    /out.txt /etc/passwd /etc/hostname //etc/passwd /.env /.git/config \
	    /sub/../.env '/index.html%00.png' '/%00x' '/out.txt%00'; do
		get "$p"
		echo "$p -> $code"
		[ "$code" -ge 400 ] || [ "$code" = 000 ]
		[[ "$body" != *TOPSECRET* ]]
		[[ "$body" != *root:* ]]
	done
	get /out.txt
	[ "$code" = 403 ]
	grep -q "leads out of web_root" "$CHAT_HOME/log/chat-api.log"
	# and the server still serves
	get /app.js
	[ "$code" = 200 ]
}

@test "If-None-Match answers 304; HEAD has headers only; POST is 405" {
	CHAT_WEB_ROOT="$SITE" start_api
	get /app.js
	etag=$(hdr etag)
	get /app.js -H "If-None-Match: $etag"
	[ "$code" = 304 ]
	[ -z "$body" ]
	get /app.js -H 'If-None-Match: W/"other"'
	[ "$code" = 200 ]
	get /app.js -I		# curl -I puts the headers where the body goes
	[ "$code" = 200 ]
	[[ "$body" != *console.log* ]]
	[ "$(hdr content-length)" = 16 ]
	get / -X POST -H 'Content-Length: 0'
	[ "$code" = 405 ]
	[ "$(hdr allow)" = "GET, HEAD" ]
}

@test "the API keeps /v1: JSON answers and errors, no page headers" {
	CHAT_WEB_ROOT="$SITE" start_api
	get /v1/health
	[ "$code" = 200 ]
	[ "$(hdr content-type)" = application/json ]
	[ "$(hdr cache-control)" = no-store ]
	get /v1/nope
	[ "$code" = 404 ]
	[ "$(jqr "$body" .error.code)" = not_found ]
	get /v1
	[ "$code" = 404 ]
}

@test "the example page itself is served from examples/web" {
	CHAT_WEB_ROOT="$BATS_TEST_DIRNAME/../examples/web" start_api
	get /
	[ "$code" = 200 ]
	[[ "$body" == *'<script src="app.js" defer></script>'* ]]
	get /app.js
	[ "$code" = 200 ]
	get /style.css
	[ "$code" = 200 ]
}

@test "a web_root that is not a directory: exit 100 with a clear message" {
	API_PORT=$(free_port)
	run env CHAT_WEB_ROOT="$BATS_TEST_TMPDIR/missing" "$CHAT_BIN/chat-api" --listen "127.0.0.1:$API_PORT"
	[ "$status" = 100 ]
	[[ "$output" == *"web_root"*"missing"* ]]
	run env CHAT_WEB_ROOT="$SITE/app.js" "$CHAT_BIN/chat-api" --listen "127.0.0.1:$API_PORT"
	[ "$status" = 100 ]
	[[ "$output" == *"not a directory"* ]]
}
