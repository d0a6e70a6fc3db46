# The README's commands: `make pipeline` runs the pipeline, `make test` runs the tests.
# Both create .venv and install the locked dependencies on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

# Offline / local AG News: `make pipeline AG_NEWS_DIR=path/to/folder` with the original
# train.csv and test.csv (no header; class index 1-4, title, description), and
# CHECKPOINT=path/to/model-folder for the transformer when the Hub is out of reach.
AG_NEWS_DIR ?=
CHECKPOINT ?=
AG_NEWS_OVERRIDES = -S data.source=csv \
	-S 'data.files.train=$(AG_NEWS_DIR)/train.csv' -S 'data.files.test=$(AG_NEWS_DIR)/test.csv' \
	-S data.csv.header=false -S 'data.csv.columns=[label,title,description]' \
	-S 'data.text_columns=[title,description]' -S data.label_base=1 \
	-S 'data.label_names=[World,Sports,Business,Sci/Tech]' \
	$(if $(CHECKPOINT),-S 'checkpoint=$(abspath $(CHECKPOINT))')

# Other tasks: `make pipeline EXAMPLE=bank-marketing DATA=path/or/url/to/bank.csv` puts
# examples/<name>/params.yaml in place of params.yaml (the stages and dvc.yaml are the same)
# and runs it as a DVC experiment with the data file; `git checkout params.yaml` goes back.
# DATA is written as given: a relative path stays relative to the project (it works in a
# teammate's clone and in CI). Uncommitted edits to params.yaml stop it unless FORCE=1.
EXAMPLE ?=
DATA ?=

# `reprotune dvc` is the dvc CLI without the warnings a first run cannot avoid (see dvc_cli.py).
DVC := reprotune dvc

.PHONY: install pipeline test test-e2e test-all lint docs

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

pipeline: install
ifneq ($(EXAMPLE),)
	@test -f examples/$(EXAMPLE)/params.yaml || { echo "no example '$(EXAMPLE)'; fix: use one of: $$(ls examples)"; exit 2; }
	@test -n "$(DATA)" || { echo "EXAMPLE=$(EXAMPLE) needs DATA=path/or/url (see examples/$(EXAMPLE)/README.md)"; exit 2; }
	@git diff --quiet -- params.yaml 2>/dev/null || [ -n "$(FORCE)" ] || { echo "params.yaml has uncommitted edits that EXAMPLE=$(EXAMPLE) would replace; fix: commit them (or \`git stash\`), or add FORCE=1 to discard them"; exit 2; }
	cp examples/$(EXAMPLE)/params.yaml params.yaml
	$(DVC) exp run -S 'data.files.train=$(DATA)'
else ifneq ($(AG_NEWS_DIR),)
	$(DVC) exp run $(AG_NEWS_OVERRIDES)
else ifneq ($(CHECKPOINT),)
	$(DVC) exp run -S 'checkpoint=$(abspath $(CHECKPOINT))'
else
	$(DVC) repro
endif
	@echo "Results: metrics/compare.md | dvc exp show | dvc plots show | .venv/bin/reprotune ui (MLflow)"

# The suite runs on every core (pytest-xdist): a test module stays on one worker, so its
# module fixtures (an example pipeline run once) are shared; tests/conftest.py gives each
# worker's stages one thread. TEST_WORKERS=0 runs it in this process.
# Tiers: `make test` the fast one (units and components: real libraries, tiny data),
# `make test-e2e` the end-to-end one (example pipelines through dvc, servers, browser, Spark),
# `make test-all` both in one run (what CI runs).
TEST_WORKERS ?= auto
PYTEST := pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder
test: install
	$(PYTEST) -m "not e2e"

test-e2e: install
	$(PYTEST) -m e2e

test-all: install
	$(PYTEST)

docs: install
	mkdocs build --strict

lint: install
	pre-commit run --all-files
