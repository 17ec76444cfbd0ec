# The two commands of README.md. Both create .venv and install the project on first use.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench install clean

run: $(STAMP)
	$(VENV)/bin/zkp run

# Cairo execution needs a Python 3.10 venv (.cairo-venv); without any Python 3.10
# those tests are reported as SKIPPED (never as passed) and said so here.
test: $(STAMP)
	@scripts/setup_cairo_venv.sh >/dev/null 2>.cairo-venv.log; status=$$?; \
	if [ $$status -eq 3 ]; then echo "make test: no Python 3.10 found; Cairo execution tests will be SKIPPED"; \
		export ZKP_NO_CAIRO_RUN=1; fi; \
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks

install: $(STAMP)

$(STAMP): pyproject.toml setup.py zk_pipeline/stark/_felt.c
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .data .cairo-venv
