# Two entry points (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests and the demo use: speech synthesis for the transcription tests,
# sox to convert audio, Chromium for the browser tests.
DEBS := espeak-ng sox chromium ffmpeg
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: test demo lint typecheck pytest bench clean debs node
# The browser phone's SIP stack: JsSIP from npm, pinned by package-lock.json, bundled into
# one static file at install time (never fetched at run time; the file is not committed).
JSSIP := agent_ui/static/agent/vendor/jssip.js

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

node:
	@command -v npm >/dev/null 2>&1 || { echo "installing Debian packages: nodejs npm"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }

$(JSSIP): package.json package-lock.json | node
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent bundle

$(STAMP): pyproject.toml | debs
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check callcenter tests
	$(BIN)/ruff format --check callcenter tests

typecheck: $(STAMP)
	$(BIN)/mypy

# Browser phones' media (WebRTC) needs the kit's network namespace: those tests run again
# inside ../shared/pbx/netns-run where namespaces are allowed (skipped in the first run;
# only those, marked webrtc: the rest of the file ran in the first run).
NETNS_RUN := ../shared/pbx/netns-run
WEBRTC_TESTS := tests/pbx/test_browser_phone.py

pytest: $(STAMP) $(JSSIP)
	$(BIN)/pytest -q
	@if [ -f $(NETNS_RUN) ] && sh $(NETNS_RUN) true 2>/dev/null; then \
		echo "browser phone media tests inside a network namespace:"; \
		sh $(NETNS_RUN) $(BIN)/pytest -q -p no:cacheprovider -m webrtc $(WEBRTC_TESTS); \
	else echo "browser phone media tests skipped: no network namespace ($(NETNS_RUN))"; fi

test: lint typecheck pytest

demo: $(STAMP) $(JSSIP)
	$(BIN)/callcenter demo --config config/callcenter.toml

bench: $(STAMP)
	$(BIN)/python tests/bench/ingest.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache node_modules $(JSSIP)
