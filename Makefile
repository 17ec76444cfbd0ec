# The two commands of README.md. Both create .venv and install the project on first use.
VENV := .venv
STAMP := $(VENV)/.installed
SUPPORTED := (3, 11) <= sys.version_info[:2] < (3, 14)

# The interpreter for .venv: PY=... if given, else the first of these that runs and is 3.11-3.13
# (a pyenv shim for a version that is not installed is on PATH but does not run).
PY ?= $(shell for p in python3.11 python3.12 python3.13 python3; do \
	$$p -c 'import sys; assert $(SUPPORTED); print(sys.executable)' 2>/dev/null && break; done)
PY_VERSION := $(shell $(PY) -c 'import sys; assert $(SUPPORTED); print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV_VERSION := $(shell $(VENV)/bin/python -c 'import sys; assert $(SUPPORTED); print("%d.%d" % sys.version_info[:2])' 2>/dev/null)

# A .venv whose interpreter no longer runs or is unsupported, or (with PY given) of another version,
# is rebuilt even when its stamp is newer than pyproject.toml; one without a stamp is half-installed.
ifneq ($(wildcard $(STAMP)),)
ifeq ($(VENV_VERSION),)
$(STAMP): FORCE
else ifneq ($(origin PY),file)
ifneq ($(VENV_VERSION),$(PY_VERSION))
$(STAMP): FORCE
endif
endif
endif

.PHONY: run test test-fast fuzz bench install stone clean FORCE

run: $(STAMP)
	$(VENV)/bin/zkp run

# The suite runs on every core (pytest-xdist; each worker starts its own PostgreSQL): JOBS=1 runs it
# serially. Cairo execution needs a Python 3.10 venv (.cairo-venv), built in the background while the
# first tests run (the tests that execute Cairo wait for it); without any Python 3.10 those tests are
# reported as SKIPPED (never as passed) and said so here. `make test-fast` leaves out the end-to-end
# tests marked `slow` (whole `zkp run`s, Dagster runs through the daemon, real cairo-run) for a quick loop.
JOBS ?= auto
PYTEST := $(VENV)/bin/pytest -n $(JOBS) --dist worksteal

test: $(STAMP)
	@if scripts/setup_cairo_venv.sh --check >/dev/null 2>&1; then \
		(scripts/setup_cairo_venv.sh >/dev/null 2>.cairo-venv.log &); \
	else echo "make test: no Python 3.10 found; Cairo execution tests will be SKIPPED"; \
		export ZKP_NO_CAIRO_RUN=1; fi; \
	$(PYTEST) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

# Schemathesis over the whole OpenAPI against a real API process (fuzz/schemathesis.toml: every check,
# fixed seed and budget); about half a minute.
fuzz: $(STAMP)
	$(VENV)/bin/python scripts/fuzz_api.py

# The fault suite (README, "Reliability"): runs killed mid-proof and mid-verified_fact under a real
# Dagster daemon, damaged replay files. Minutes, one scenario at a time; `make test` reports it as skipped.
faults: $(STAMP)
	$(VENV)/bin/pytest -n 0 tests/faults $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks

install: $(STAMP)

# StarkWare's Stone prover for ZKP_PROVERS=stone (docs/stone.md): built from the pinned stone-prover commit
# with Debian's compilers into .data/stone/bin, where the Stone backend and the tests find it.
# STONE_SOURCE_TARBALL=path builds from a local tarball; STONE_LAYOUTS="small" builds in minutes, not an hour.
stone:
	scripts/build_stone.sh

# An up-to-date venv only re-runs pip (dependencies changed); any other is deleted and made anew.
# The stamp goes first and comes back last, so an interrupted install is never taken for a finished one.
$(STAMP): pyproject.toml setup.py zk_pipeline/stark/_felt.c
	@test -n "$(PY_VERSION)" || { if [ "$(origin PY)" = file ]; then \
		echo "make: no Python 3.11, 3.12 or 3.13 found; install one or pass PY=/path/to/python3.x"; \
		else echo "make: PY=$(PY) does not run as Python 3.11, 3.12 or 3.13"; fi >&2; exit 1; }
	@if [ -f $(STAMP) ] && [ "$(VENV_VERSION)" = "$(PY_VERSION)" -o "$(origin PY)" = file -a -n "$(VENV_VERSION)" ]; then \
		echo "make: dependencies changed; updating .venv (Python $(VENV_VERSION))"; \
	elif [ -e $(VENV) ]; then \
		if [ ! -f $(STAMP) ]; then why="half-installed (no $(STAMP))"; \
		elif [ -z "$(VENV_VERSION)" ]; then why="broken: its Python no longer runs or is not 3.11-3.13"; \
		else why="made by Python $(VENV_VERSION), not $(PY_VERSION)"; fi; \
		echo "make: .venv is $$why; rebuilding it with Python $(PY_VERSION) ($(PY))"; \
		rm -rf $(VENV); \
	fi
	@rm -f $(STAMP)
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	@echo "make: installing the project into .venv (about 2 minutes the first time; log: $(VENV)/install.log)"
	@{ $(VENV)/bin/python -m pip install --upgrade pip && \
		$(VENV)/bin/python -m pip install -e '.[test]'; } > $(VENV)/install.log 2>&1 || \
		{ tail -n 25 $(VENV)/install.log; echo "make: install failed; the full log is $(VENV)/install.log" >&2; exit 1; }
	@$(VENV)/bin/python -c 'from zk_pipeline.circuits.allocation import FIELD_BACKEND; print("make: .venv ready: Python", __import__("sys").version.split()[0] + ",", "prover field backend:", FIELD_BACKEND)'
	@touch $(STAMP)

FORCE:

clean:
	rm -rf $(VENV) .data .cairo-venv
