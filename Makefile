# Thin wrappers around uv. `make run` and `make test` are the README's quick start.
# uv is bootstrapped with pip when missing; it never downloads a Python (system Python only).
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: help uv install run sample demo test test-fast lint fmt typecheck bench-ingest bench-prober bench-notifier migrate clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv

install: uv  ## install every package and the dev tools from uv.lock
	$(UV) sync --locked --all-packages

run: install  ## run the whole of vigie on its embedded defaults (Tansu, SQLite), Ctrl-C stops it
	$(UV) run --locked vigie up

sample: uv  ## send a signed sample ticket to the running `make run`
	$(UV) run --locked vigie sample

demo: install  ## follow the seed's P2P and flapping tickets from webhook to mail (own vigie if none runs)
	$(UV) run --locked vigie demo

test: install  ## run the whole test suite (real PostgreSQL, SQLite, Tansu or Kafka), two workers
	$(UV) run --locked pytest -n 2 --dist loadfile

test-fast: install  ## only the tests that need no broker or database
	$(UV) run --locked pytest -m "not integration"

lint: install  ## ruff
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .

fmt: install  ## format and fix what ruff can
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .

typecheck: install  ## mypy --strict
	$(UV) run --locked mypy libs services tests bench

bench-ingest: install  ## the ingest benchmark (needs wrk: apt-get install wrk)
	@command -v wrk >/dev/null 2>&1 || { echo "wrk is missing: apt-get install -y wrk"; exit 2; }
	$(UV) run --locked python -m bench.ingest

bench-prober: install  ## the prober benchmark: vigie vs asyncssh, Scrapli, Netmiko on 1,000 lab routers
	$(UV) run --locked python -m bench.prober

bench-notifier: install  ## the notifier benchmark: mails/s vs bare aiosmtplib, GTR deadlines/s vs businesstimedelta
	$(UV) run --locked python -m bench.notifier

clean:  ## remove the embedded run's data folder and caches
	rm -rf .vigie .pytest_cache .mypy_cache .ruff_cache
