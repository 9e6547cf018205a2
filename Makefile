# modelfleet developer commands. `make run` and `make test` are the two README commands;
# both create .venv and install the project into it when needed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test install protos protos-check lint typecheck pytest audit-deps bench clean

$(STAMP): pyproject.toml setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The desktop app in local mode when there is a display (the same check `modelfleet desktop`
# makes), else the Quick Start in the terminal: URLs, a curl to paste, a live summary.
run: $(STAMP)
	@if $(PY) -c 'import os, sys; from modelfleet.cli.desktop import has_display as d; sys.exit(not d(os.environ))'; then \
	    exec $(VENV)/bin/modelfleet desktop; \
	else \
	    echo "no display: running the Quick Start in this terminal"; \
	    exec $(VENV)/bin/modelfleet quickstart; \
	fi

test: $(STAMP) protos-check lint typecheck pytest

protos: $(STAMP)
	$(PY) tools/gen_protos.py

protos-check: $(STAMP)
	$(PY) tools/gen_protos.py --check

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy cannot follow setuptools' editable finder, so it reads a link tree that lays the
# mapped folders out under their import names.
typecheck: $(STAMP)
	$(PY) tools/typecheck.py

# Real servers on a shared 2-core machine: a test that fails on timing gets two more tries;
# one that fails three times fails the run (reruns are listed in the summary). The 25 slowest
# tests are listed too: where the time of the run goes.
pytest: $(STAMP)
	$(PY) -m pytest --reruns 2 --reruns-delay 2 --durations=25 $(PYTEST_ARGS)

# pip-audit over the installed environment (PyPI vulnerability service); fails on findings
# not allow-listed in tools/audit-allowlist.toml and when the service cannot be reached.
# Not part of `test`: the package index our CI reaches serves no vulnerability data, so the
# audit runs where the PyPI JSON API is reachable (see docs/security.md).
audit-deps: $(STAMP)
	$(PY) tools/audit_deps.py

bench: $(STAMP)
	$(PY) benchmarks/serving.py

clean:
	rm -rf .typecheck .pytest_cache .mypy_cache .ruff_cache build *.egg-info
