# ssr_ros: two commands for a fresh Debian/Ubuntu machine.
#   make test   set up everything, then run the test suite
#   make setup  only the set-up (idempotent; see scripts/setup.sh)
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTEST_ARGS ?=

.PHONY: help setup test clean

help:
	@echo "make setup   prepare .venv, build the interfaces (idempotent)"
	@echo "make test    setup + the full test suite"
	@echo "make clean   remove build/, install/ (keeps .venv)"

setup:
	@bash scripts/setup.sh

test: setup
	@bash scripts/run_tests.sh $(PYTEST_ARGS)

clean:
	rm -rf build install log
