"""The plugin as QGIS loads it: classFactory, the provider and its algorithms, the setting, the zip."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
import zipfile

from conftest import PLUGIN_DIR, ROOT


def test_class_factory_registers_and_unregisters_the_provider(qgis_iface, qgis_processing, provider):
    from qgis.core import QgsApplication

    import geoclassify_qgis

    registry = QgsApplication.processingRegistry()
    plugin = geoclassify_qgis.classFactory(qgis_iface)
    old = registry.providerById("geoclassify")
    registry.removeProvider(old)  # the session's provider (re-registered below)
    assert registry.providerById("geoclassify") is None
    plugin.initGui()
    registered = registry.providerById("geoclassify")
    assert registered is not None and registered.name() == "geoclassify"
    assert sorted(a.id() for a in registered.algorithms()) == ["geoclassify:classify", "geoclassify:info",
                                                                "geoclassify:polygonize", "geoclassify:setup"]
    assert {a.displayName() for a in registered.algorithms()} == {"Classify raster", "Polygonize classification",
                                                                   "Show model info", "Set up geoclassify"}
    plugin.unload()
    assert registry.providerById("geoclassify") is None
    plugin.initGui()  # leave it registered for the other tests
    assert registry.providerById("geoclassify") is not None


def test_the_cli_setting_is_in_the_processing_options(provider, cli):
    from processing.core.ProcessingConfig import ProcessingConfig, Setting

    from geoclassify_qgis.settings import CLI_SETTING, cli_setting

    setting = ProcessingConfig.settings[CLI_SETTING]
    assert setting.group == "geoclassify" and setting.valuetype == Setting.FILE
    assert "geoclassify executable or Python environment" in setting.description
    assert cli_setting() == cli


def test_classify_parameters(provider):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    alg = QgsApplication.processingRegistry().algorithmById("geoclassify:classify")
    params = {p.name(): p for p in alg.parameterDefinitions()}
    basic = [n for n, p in params.items() if not p.flags() & QgsProcessingParameterDefinition.FlagAdvanced]
    assert basic == ["INPUT", "BUNDLED_MODEL", "MODEL", "OUTPUT", "POLYGONS", "PROBABILITIES"]
    assert {"BANDS", "STRIDE", "TILE_SIZE", "OVERLAP", "BATCH_SIZE", "DEVICE", "MIN_AREA", "SIMPLIFY", "CLASSES",
            "NO_RESAMPLE", "FULLY_CONVOLUTIONAL"} <= set(params)
    assert params["MODEL"].flags() & QgsProcessingParameterDefinition.FlagOptional
    assert {o.name() for o in alg.outputDefinitions()} == {"OUTPUT", "POLYGONS", "PROBABILITIES"}


def test_metadata_is_complete():
    meta = configparser.ConfigParser()
    meta.read(PLUGIN_DIR / "geoclassify_qgis" / "metadata.txt", encoding="utf-8")
    general = meta["general"]
    for key in ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "repository",
                "tracker", "homepage", "license", "hasProcessingProvider", "icon"):
        assert general.get(key), key
    assert general["qgisMinimumVersion"] == "3.22" and general["hasProcessingProvider"] == "yes"
    assert (PLUGIN_DIR / "geoclassify_qgis" / general["icon"]).is_file()


def test_make_qgis_plugin_builds_an_installable_zip(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_qgis_plugin.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout.strip()
    version = re.search(r'^__version__ = "([^"]+)"', (ROOT / "geoclassify" / "version.py").read_text(), re.M).group(1)
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert {n.split("/")[0] for n in names} == {"geoclassify_qgis"}  # one top folder: the plugin
        for needed in ("__init__.py", "metadata.txt", "plugin.py", "provider.py", "settings.py", "algorithms.py",
                       "runner.py", "styling.py", "layers.py", "catalog.py", "setup_env.py", "setup_algorithm.py",
                       "icon.svg", "LICENSE"):
            assert f"geoclassify_qgis/{needed}" in names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        meta = zf.read("geoclassify_qgis/metadata.txt").decode()
    assert f"\nversion={version}\n" in meta and "qgisMinimumVersion=3.22" in meta
