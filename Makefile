# Two commands on a fresh machine: `make demo` (install, build the bundled index, run a query)
# and `make test`. torch's CPU build is installed first so nothing pulls a multi-GB CUDA build.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1

.PHONY: install demo test test-fast bench browser screenshots

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: install
	$(VENV)/bin/refsearch search "GPU slicing" -k 5

test: install
	$(PY) -m pytest -q

# the inner loop: everything but the tests that run the real model, one worker per core (under a
# minute on 2 cores; `make test` stays serial: the browser tests time the page)
test-fast: install
	$(PY) -m pytest -q -m "not slow" -n auto

# the browser tests' Chromium and CJK fonts, from Debian (as root); without them those tests skip.
# Playwright drives this Chromium: it never downloads a browser of its own.
browser:
	command -v chromium >/dev/null && fc-list | grep -qi "Noto Sans CJK" || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; }

# the README's pictures of the page, taken by the browser tests
screenshots: install browser
	REFSEARCH_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/test_serve_browser.py

bench: install
	$(PY) scripts/bench_query.py
