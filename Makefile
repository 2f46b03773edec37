# make run   — create .venv, install shipbot, start the console chat (embedded default)
# make test  — install everything the tests need, then lint, type-check and test
# make bench — benchmarks (side-by-side figures, not pass/fail): local, SSH, Slack calls, store
#              throughput, and shipbot against peer SSH tools (python -m benchmarks.peers,
#              writes benchmarks/RESULTS.md)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test lint types pytest bench clean sysdeps bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# The peer tools benchmarks.peers times shipbot against (optional-dependency group "bench").
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

# Bytecode of shipbot's own modules, as a wheel install writes it: where
# PYTHONDONTWRITEBYTECODE is set (CI, containers) every shipbot process would
# otherwise compile its ~120 modules first (0.14 s of each start on the benchmark
# machine). Up-to-date files are skipped; a stale one is recompiled in memory.
bytecode: | $(BIN)/python
	$(BIN)/python -m compileall -q -j 0 bot strategies adapters

run: $(VENV)/.installed bytecode
	$(BIN)/shipbot shell

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

# The tests start real sshd, HAProxy and PostgreSQL servers, make keys with ssh-keygen,
# put a bastion's target in a network namespace (ip netns) and a lock holder in a PID
# namespace (unshare); install what is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSDEPS := openssh-server openssh-client haproxy iproute2 postgresql util-linux
sysdeps:
	@if [ ! -x /usr/sbin/sshd ] || ! command -v haproxy >/dev/null || \
		! command -v ssh-keygen >/dev/null || ! command -v ip >/dev/null || \
		! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || ! command -v unshare >/dev/null; then \
		echo "installing $(SYSDEPS) (apt)"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
			$(SYSDEPS) >/dev/null; \
	fi

pytest: $(STAMP) sysdeps bytecode
	$(BIN)/python -m pytest

test: lint types pytest

bench: $(BENCH_STAMP) sysdeps bytecode
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.ssh
	$(BIN)/python -m benchmarks.slack_calls
	$(BIN)/python -m benchmarks.store
	$(BIN)/python -m benchmarks.peers $(PEERS_ARGS)

clean:
	rm -rf $(VENV) .shipbot .pytest_cache .mypy_cache .ruff_cache
