# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.requirements-installed

.PHONY: venv services test lint demo migrate bench-import clean

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

services:
	@scripts/ensure-services.sh

migrate: venv services
	$(PY) manage.py migrate --noinput

test: venv services
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

# The whole flow against the simulated phone network (Procfile.demo under honcho); KEEP=1 leaves the services
# running after the summary for browsing the admin (Ctrl-C stops them).
demo: migrate
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) manage.py run_demo $(if $(KEEP),--keep-running) $(DEMO_ARGS)

bench-import: migrate
	$(PY) bench/import_contacts.py

clean:
	rm -rf var/files var/recordings .pytest_cache
