# tensorserve: `make demo` runs the whole product, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

# Packages installed without their declared dependencies ([tool.tensorserve] in pyproject.toml
# says why): tritonclient would downgrade TensorFlow's ml-dtypes and protobuf.
NO_DEPS_REQUIREMENTS = $(shell $(PYTHON) -c 'import tomllib; print(" ".join(repr(r) for r in \
	tomllib.load(open("pyproject.toml", "rb"))["tool"]["tensorserve"]["no-deps-requirements"]))')

.PHONY: install system-packages demo test test-fast lint typecheck bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(NO_DEPS_REQUIREMENTS)
	touch $@

# The Debian packages the tests need (.ci/system-packages): installed when missing and root,
# otherwise a warning says what will skip. Never fails; pytest decides `make test`'s status.
system-packages:
	@.ci/install-system-packages

demo: install
	$(BIN)/tensorserve demo

test: install system-packages
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: install
	$(BIN)/python -m pytest -q -m "not e2e and not browser and not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
