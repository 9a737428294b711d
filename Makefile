# ssr_ros: two commands for a fresh Debian/Ubuntu machine.
#   make demo         set up everything, then map a simulated room with ssr_node over DDS
#   make test         set up everything (all dependency groups), then run the test suite
#   make setup        only the set-up (idempotent; see scripts/setup.sh, docs/install.md)
#   make lock         re-resolve requirements/*.in into requirements/lock/ (pip-tools)
#   make test-latest  the suite in a throw-away venv resolved from the ranges, no lock
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTEST_ARGS ?=
DEMO_ARGS ?=
TOOLS_VENV := build/tools-venv

.PHONY: help setup demo test lock test-latest clean

help:
	@echo "make setup        prepare .venv from the lock, build the interfaces (idempotent)"
	@echo "make demo         setup + ssr_node mapping a simulated room, questions answered (demo_out/)"
	@echo "make test         setup of every group + the full test suite"
	@echo "make lock         regenerate requirements/lock/ from requirements/*.in"
	@echo "make test-latest  the suite against today's releases within the ranges (no lock)"
	@echo "make clean        remove build/, install/ (keeps .venv)"

setup:
	@bash scripts/setup.sh

demo: setup
	@bash -c 'set +u; . scripts/env.sh && python scripts/demo.py $(DEMO_ARGS)'

# A sample of the DDS tests first, each in a process of its own (a test that passes only
# after others fails there), then the whole suite (its summary is the last line).
test:
	@SSR_GROUPS=all bash scripts/setup.sh
	@bash scripts/run_dds_alone.sh
	@bash scripts/run_tests.sh $(PYTEST_ARGS)

lock:
	@test -x $(TOOLS_VENV)/bin/pip-compile || { python3 -m venv $(TOOLS_VENV) && \
	  $(TOOLS_VENV)/bin/python -m pip install -q --require-hashes -r requirements/lock-tools.txt; }
	@$(TOOLS_VENV)/bin/python scripts/lockfile.py compile --pip-compile $(TOOLS_VENV)/bin/pip-compile

test-latest:
	@bash scripts/test_latest.sh $(PYTEST_ARGS)

clean:
	rm -rf build install log
