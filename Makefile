# qnewton: two commands a fresh machine needs (Python 3.11 and make): `make demo` and `make test`.
# Everything else they need is installed here: the virtual environment, the CPU build of torch
# (pinned by constraints.txt so no package can pull a newer CUDA build), the package with its
# extras, and Debian's Fashion-MNIST where apt is available.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-slow test-all lint typecheck docs bench data clean help
export NO_MKDOCS_2_WARNING := 1

help:
	@echo "make demo       set up .venv and run the main job on the embedded default data"
	@echo "make test       set up .venv and run the default (fast) test suite"
	@echo "make test-slow  run only the slow tests;  make test-all: every test"
	@echo "make bench      run the benchmarks (benchmarks/README.md records results)"
	@echo "make lint       ruff"
	@echo "make typecheck  mypy (config in pyproject.toml)"
	@echo "make docs       build the documentation site into build/site (offline, warnings are errors)"

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed; trying Debian's python3-venv"; \
	  apt-get install -y python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }
	$(PIP) install -q -c constraints.txt "torch==2.13.0"
	$(PIP) install -q -c constraints.txt -e ".[dev,quantum,nlp,ft,docs]"
	@touch $(STAMP)

# Optional data: Fashion-MNIST from Debian. Skipped (with a note) where apt is not usable; the
# embedded default data (scikit-learn's digits) needs nothing.
data:
	@if [ -d /usr/share/datasets/fashion-mnist ] || [ -n "$$(dpkg -L dataset-fashion-mnist 2>/dev/null | head -1)" ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) \
	  || echo "note: could not install dataset-fashion-mnist; Fashion-MNIST runs need --data-dir"; \
	else echo "note: apt-get not usable here; Fashion-MNIST runs need --data-dir"; fi

demo: $(STAMP) data
	$(BIN)/python -m qnewton reproduce --quick --out runs/demo

test: $(STAMP) data
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/mkdocs build --strict --quiet
	$(BIN)/python -m pytest -q

test-slow: $(STAMP) data
	$(BIN)/python -m pytest -q -m slow

test-all: $(STAMP) data
	$(BIN)/python -m pytest -q -m "slow or not slow"

typecheck: $(STAMP)
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP) data
	$(BIN)/python benchmarks/solvers.py
	$(BIN)/python benchmarks/step.py
	$(BIN)/python benchmarks/step_in_training.py
	$(BIN)/python benchmarks/train_to_target.py
	$(BIN)/python benchmarks/curvature.py
	$(BIN)/python benchmarks/distributed.py
	$(BIN)/python benchmarks/linalg.py --big
	$(BIN)/python benchmarks/prune_interleaved.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist src/*.egg-info
