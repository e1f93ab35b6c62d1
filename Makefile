# Two commands on a fresh machine: `make run` and `make test`. Each sets itself up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run PORT=8611`; unset, Streamlit's own order applies (STREAMLIT_SERVER_PORT, then config.toml's 8501).
PORT ?=

.PHONY: run test setup bench fuzz browser-deps clean-demo

$(BIN)/python:
	$(PY) -m venv $(VENV)

# llama.cpp is built for this CPU (-march=native) but without AMX: some virtual machines list AMX
# in cpuinfo yet fault on its instructions (SIGILL on `tilezero` in libggml-cpu).
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'

# Reinstall only when requirements change; pip caches the llama-cpp-python wheel it builds.
$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; \
	fi

run: $(STAMP)
	$(BIN)/python -m llmledger.ui.launch $(if $(PORT),--port $(PORT))

# The import contract (pyproject.toml, [tool.importlinter]) first: layers go down, never up.
test: $(STAMP) browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# A longer, randomized run of the property-based ingest tests (CI runs a fixed sample of 120).
fuzz: $(STAMP)
	LLMLEDGER_FUZZ_EXAMPLES=$${LLMLEDGER_FUZZ_EXAMPLES:-5000} $(BIN)/python -m pytest -q tests/test_ingest_fuzz.py

bench: $(STAMP)
	$(BIN)/python -m bench.run_all $(BENCH)
