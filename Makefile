# Quick start: `make demo` and `make test` on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-all clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,train,onnx,report,keras]'
	touch $(STAMP)

demo: setup
	mkdir -p out
	$(BIN)/geoclassify predict examples/data/naip_farmland.tif -o out/demo_classes.tif \
		--stride 16 --probabilities out/demo_probabilities.tif --vector out/demo_fields.gpkg --overwrite
	@echo "Demo output: $$(pwd)/out/demo_classes.tif (probabilities: $$(pwd)/out/demo_probabilities.tif, polygons: $$(pwd)/out/demo_fields.gpkg)"

test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	$(BIN)/python -m pytest -q -m ''

clean:
	rm -rf $(VENV) out
