# Developer and CI entry points. `make demo` and `make test` are the README's two commands.
#   make demo [PORT=8000] [HOST=127.0.0.1]   serve the demo (installs only what serving needs)
#   make test                                the whole suite (installs the test and bench extras too)
#   make test-fast                           the suite without the tests marked slow (servers, browsers, big worlds)
#   make lint                                ruff check . (rules in pyproject.toml)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: venv venv-test browser test test-fast lint demo

# .venv with the project, its run-time dependencies and the server extra (what `dateideas` and
# the service need; the dask and plots extras come with the test extra).
# Each stamp re-runs only when pyproject.toml changes. pip keeps downloaded and built wheels in
# its cache (~/.cache/pip, or PIP_CACHE_DIR), so a second clone installs without downloading.
# Faster first install: no .pyc compilation of every installed file up front (Python compiles
# what it imports, once), and the project built with the venv's setuptools instead of a fresh
# isolated build environment per install.
# (PYTHONWARNINGS: setuptools' notes on editable installs and the license table are not the
# newcomer's business; pip's own warnings and every error still show.)
INSTALL := PYTHONWARNINGS=ignore::UserWarning $(PIP) install --quiet --no-compile --no-build-isolation
venv: $(VENV)/.installed

# The venv's bundled pip and setuptools are upgraded first: the versions `python -m venv`
# bundles have published CVEs (issue 16, item 11).
$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.created
	$(INSTALL) -e '.[server]'
	touch $@

# Plus the test extra (it pulls in the dask and plots extras too: the suite covers the Dask
# newsletter and the evaluation report) and the peer libraries of `python -m bench peers`
# (binary wheels; their adapters are tested too): only `make test` pays for these.
venv-test: $(VENV)/.installed-test

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(INSTALL) -e '.[test,bench]'
	touch $@

# Debian's Chromium for the browser tests (a no-op when installed; without root the browser
# tests skip locally with a reason, while CI sets DATEIDEAS_REQUIRE_BROWSER=1 and fails instead).
browser:
	-bash scripts/install-browser.sh

# The whole suite; PostgreSQL must be reachable (its store tests fail instead of skipping).
# pytest's exit code 5 ("no tests collected") fails this target like any other failure.
test: venv-test browser
	DATEIDEAS_REQUIRE_POSTGRES=1 DATEIDEAS_REQUIRE_REDIS=1 $(PY) -m pytest -q

# The quick lane while working: everything but the tests marked @pytest.mark.slow (they start
# servers, gunicorn, browsers or Dask clusters, or simulate and evaluate big worlds). CI runs
# `make test`, slow tests included.
test-fast: venv-test
	DATEIDEAS_REQUIRE_POSTGRES=1 DATEIDEAS_REQUIRE_REDIS=1 $(PY) -m pytest -q -m "not slow"

# The linter, with the rules and their reasons in pyproject.toml ([tool.ruff]); ruff comes with
# the test extra. `$(VENV)/bin/ruff check --fix .` fixes the import order and the pyupgrade rules.
lint: venv-test
	$(VENV)/bin/ruff check .

# The service on a demo SQLite database: `serve` creates or upgrades the database (like
# `init`), and with --demo on an empty one builds the demo (like `init --demo`), then prints a
# demo couple's token and curl lines, and serves on HOST:PORT. A taken port fails at once,
# before any of that, naming PORT= (tests/test_cli_serve.py).
demo: venv
	$(VENV)/bin/dateideas serve --demo --host '$(HOST)' --port '$(PORT)'
