# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.requirements-installed

.PHONY: venv tools services test lint mutation demo migrate bench-import clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the tests and the demo need (SIPp, eSpeak NG, Chromium, PostgreSQL, Redis), installed when missing.
tools:
	@scripts/ensure-tools.sh

services: tools
	@scripts/ensure-services.sh

migrate: venv services
	$(PY) manage.py migrate --noinput

# The layer contracts and the type checker run first: a broken boundary fails the run in seconds. The test
# database is made anew (`--create-db`): a run that was killed leaves rows its teardown never removed, and
# `--reuse-db` (pyproject's default, for quick runs by hand) would hand them to the next run.
test: venv tools services lint
	$(VENV)/bin/pytest --create-db $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# Mutation testing of the pure rule modules ([tool.mutmut] in pyproject.toml): the score per module, the surviving
# mutants with their diffs, and a failure below 85 % (docs/testing.md). `tools` because the suite's conftest
# wants its peers present; the rule tests themselves use no database. MUTATION_ARGS=--rerun-survivors re-tests
# only what survived the last run.
mutation: venv tools
	nice -n 10 $(PY) scripts/mutation.py $(MUTATION_ARGS)

# The whole flow against the simulated phone network (Procfile.demo under honcho); KEEP=1 leaves the services
# running after the summary for browsing the admin (Ctrl-C stops them).
# A stopped demo (Ctrl-C, SIGTERM, or make itself killed) stops every process it started and pauses its campaign.
demo: migrate
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(PY) manage.py run_demo $(if $(KEEP),--keep-running) $(DEMO_ARGS)

bench-import: migrate
	$(PY) bench/import_contacts.py

clean:
	rm -rf var/files var/recordings .pytest_cache mutants
