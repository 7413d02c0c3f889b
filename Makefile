# Developer and CI entry points. `make test` is the README's test command.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: venv browser test demo

# Create .venv and install the project with its test extra and the peer libraries of
# `python -m bench peers` (binary wheels; their adapters are tested too); re-runs only when
# pyproject.toml changes (the stamp file records the last install).
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[test,bench]'
	touch $@

# Debian's Chromium for the browser tests (a no-op when installed; without root the browser
# tests skip locally with a reason, while CI sets DATEIDEAS_REQUIRE_BROWSER=1 and fails instead).
browser:
	-bash scripts/install-browser.sh

# The whole suite; PostgreSQL must be reachable (its store tests fail instead of skipping).
# pytest's exit code 5 ("no tests collected") fails this target like any other failure.
test: venv browser
	DATEIDEAS_REQUIRE_POSTGRES=1 $(PY) -m pytest -q

# The service on a demo SQLite database: on an empty database `serve --demo` first builds the
# demo (like `init --demo`), then prints a demo couple's token and curl lines, and serves on :8000.
demo: venv
	$(VENV)/bin/dateideas init
	$(VENV)/bin/dateideas serve --demo
