# The README's two commands. Each sets itself up on a fresh clone; re-running is quick when .venv is current.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-stamp
PROFILE ?= quick

.PHONY: setup test test-fast reproduce lint clean-venv

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not slow"

reproduce: $(STAMP)
	$(VENV)/bin/bench reproduce --profile $(PROFILE) --results results/$(PROFILE)

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean-venv:
	rm -rf $(VENV)
