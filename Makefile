# Two commands: `make demo` and `make test`. Every target sets up what it needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.stamp-install
BENCH_STAMP := $(VENV)/.stamp-bench
OUT ?= demo_out
BENCH_ARGS ?= --quick

.PHONY: venv demo test bench lint clean ffmpeg-libs chromium firefox postgresql

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# Reinstall when the declared or pinned dependencies change.
$(STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Same, plus the decoders benchmarks/decode.py compares against (the 'bench' extra).
$(BENCH_STAMP): $(STAMP)
	$(PIP) install --quiet -c constraints.txt -e '.[test,bench]'
	touch $(BENCH_STAMP)

# FFmpeg shared libraries for torchcodec (Debian's ffmpeg package; needs root, quick when present).
ffmpeg-libs:
	bash .ci/ffmpeg-libs

# Debian's chromium for the report.html browser tests (needs root to install, quick when present).
chromium:
	bash .ci/chromium

# Debian's firefox-esr for the web pages' Firefox test (WebDriver BiDi; root to install, quick when present).
firefox:
	bash .ci/firefox

# Debian's postgresql for the service tests, which start a throwaway cluster from it (root to install).
postgresql:
	bash .ci/postgresql

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vidstruct demo --out $(OUT)

test: $(STAMP) ffmpeg-libs chromium firefox postgresql
	$(PY) -m pytest -n 2 --dist loadgroup -q $(PYTEST_ARGS)

bench: $(BENCH_STAMP) ffmpeg-libs
	$(PY) benchmarks/run_all.py $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) demo_out bench_out .pytest_cache .ruff_cache
