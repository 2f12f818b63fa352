# Helpers of the HTTP API suites (20-api, 21-api-errors): load after helpers.

# req METHOD PATH [BODY] [TOKEN]: one request; sets $code, $body, and
# $hdrs (the response headers, lower-cased).
req() {
	local args=(-s -X "$1" -H 'Expect:' -o "$BATS_TEST_TMPDIR/body"
	    -D "$BATS_TEST_TMPDIR/hdrs" -w '%{http_code}')
	[ -n "${4-}" ] && args+=(-H "Authorization: Bearer $4")
	[ -n "${3-}" ] && args+=(-H 'Content-Type: application/json'
	    --data-binary "$3")
	code=$(curl "${args[@]}" "$API$2")
	body=$(cat "$BATS_TEST_TMPDIR/body")
	hdrs=$(tr 'A-Z' 'a-z' < "$BATS_TEST_TMPDIR/hdrs" | tr -d '\r')
}
