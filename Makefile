# Quick start: `make demo` and `make test` on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# QGIS plugin: Debian's QGIS, and a venv of QGIS's Python (/usr/bin/python3) for pytest-qgis
QGIS_VENV := .venv-qgis
QGIS_STAMP := $(QGIS_VENV)/.installed
QGIS_PACKAGES := qgis python3-qgis qgis-providers python3-venv
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo lint test test-all clean qgis-plugin qgis-deps test-qgis qgis-screenshot

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt geoclassify/version.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e '.[all,test]'
	touch $(STAMP)

demo: setup
	mkdir -p out
	$(BIN)/geoclassify predict examples/data/naip_farmland.tif -o out/demo_classes.tif \
		--stride 16 --probabilities out/demo_probabilities.tif --vector out/demo_fields.gpkg --overwrite
	@echo "Demo output: $$(pwd)/out/demo_classes.tif (probabilities: $$(pwd)/out/demo_probabilities.tif, polygons: $$(pwd)/out/demo_fields.gpkg)"

# ruff (style, imports, docstrings of public names) and mypy (types) on the package; configured in pyproject.toml
lint: setup
	$(BIN)/ruff check geoclassify tests tests_qgis benchmarks scripts qgis_plugin
	$(BIN)/mypy

# the default run (not slow, not gpu), then the 15 slowest tests
test: setup lint
	$(BIN)/python -m pytest -q --durations=15

# every test, slow and gpu ones included (gpu tests skip themselves without CUDA)
test-all: setup lint
	$(BIN)/python -m pytest -q -m '' --durations=15

# The plugin zip for QGIS's Plugin Manager (Plugins > Manage and Install Plugins > Install from ZIP)
qgis-plugin:
	$(PYTHON) scripts/build_qgis_plugin.py --out dist

qgis-deps:
	@dpkg -s $(QGIS_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(QGIS_PACKAGES); }

$(QGIS_STAMP): | qgis-deps
	test -x $(QGIS_VENV)/bin/python || /usr/bin/python3 -m venv --system-site-packages $(QGIS_VENV)
	$(QGIS_VENV)/bin/python -m pip install --quiet 'pytest>=8' 'pytest-qgis>=5,<6'
	touch $(QGIS_STAMP)

# The plugin's tests in a real QGIS (its own Python), calling the CLI of .venv; the set-up tests build the project's
# wheel and fetch its core dependencies' wheels once into tests_qgis/.wheels (scripts/qgis_wheels.py)
test-qgis: setup qgis-deps $(QGIS_STAMP)
	rm -rf tests_qgis/.qgis-settings  # pytest-qgis's QGIS profile: start from a fresh one
	QT_QPA_PLATFORM=offscreen GEOCLASSIFY_TEST_CLI=$(CURDIR)/$(BIN)/geoclassify \
		$(QGIS_VENV)/bin/python -m pytest -q tests_qgis

# docs/qgis_plugin.png (the plugin's outputs) and docs/qgis_setup.png (Set up geoclassify, offline from the project's
# wheel and its dependencies' wheels): QGIS desktop under Xvfb
qgis-screenshot: setup qgis-deps
	@dpkg -s xvfb >/dev/null 2>&1 || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb
	GEOCLASSIFY_CLI=$(CURDIR)/$(BIN)/geoclassify scripts/qgis_screenshot.sh docs/qgis_plugin.png map
	GEOCLASSIFY_CLI=$(CURDIR)/$(BIN)/geoclassify scripts/qgis_screenshot.sh docs/qgis_setup.png setup

clean:
	rm -rf $(VENV) $(QGIS_VENV) out dist
