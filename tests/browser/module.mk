# Browser tests: the example web page (examples/web) in Debian's headless
# Chromium, driven by playwright-core from npm (tests/browser/package.json),
# against the real stack on free ports.  Never downloads a browser.
#
#   make test-browser-deps   chromium and chromium-driver (and node, npm if
#                            absent) from Debian; playwright-core from npm
#   make test-browser        build, then tests/browser/run.mjs (TAP, then
#                            "N passed, N failed"; screenshots in
#                            tests/browser/out/)
BROWSER_DEB_PKGS = chromium chromium-driver

# Node and npm count as present whoever installed them (the machine's own
# Node.js bundles npm); only a machine without them gets Debian's.
test-browser-deps:
	@missing=$$(for p in $(BROWSER_DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	  done; command -v node >/dev/null || echo nodejs; command -v npm >/dev/null || echo npm); \
	if [ -n "$$missing" ]; then \
	  echo "make test-browser-deps: installing$$(echo $$missing | sed 's/^/ /')"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	/usr/bin/chromium --headless --no-sandbox --version
	cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund

test-browser: all
	@[ -d tests/browser/node_modules/playwright-core ] || \
	  { echo "test-browser: run 'make test-browser-deps' first"; exit 1; }
	cd tests/browser && node run.mjs --bin $(abspath $(BIN))

.PHONY: test-browser-deps test-browser
