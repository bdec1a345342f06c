"""catalog.py on its own: the bundled models from `geoclassify models --json`, asked once per CLI, and its fallbacks."""

from __future__ import annotations

import json
import os
import time

import pytest
from conftest import run_cli
from test_runner import executable

from geoclassify_qgis import catalog

MODELS = [{"name": "other", "default": False, "task": "segmentation", "classes": ["a", "b", "c"],
           "colors": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "band_names": ["red", "green", "blue"], "gsd": None,
           "tile_size": 256, "stride": None},
          {"name": "main", "default": True, "task": "classification", "classes": ["x", "y"],
           "colors": [[0, 0, 0], [255, 255, 255]], "band_names": ["red", "green", "blue"], "gsd": 10.0,
           "tile_size": 64, "stride": 16}]
FAKE = """
import sys, time
from pathlib import Path
calls = sys.argv[0] + ".calls"
with open(calls, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
mode = Path(sys.argv[0] + ".mode").read_text()
if mode == "fail":
    print("Error: no such command 'models'", file=sys.stderr)
    sys.exit(2)
if mode == "hang":
    time.sleep(60)
if sys.argv[1:3] == ["info", "--json"]:
    print('{"task": "classification", "tile_size": 150}')
else:
    print(Path(sys.argv[0] + ".json").read_text())
"""


@pytest.fixture
def fake_cli(tmp_path):
    """A program that answers as the CLI does, records its calls and can fail or hang."""
    exe = executable(tmp_path / "geoclassify", FAKE)
    (tmp_path / "geoclassify.json").write_text(json.dumps(MODELS))

    def set_mode(mode: str) -> None:
        (tmp_path / "geoclassify.mode").write_text(mode)

    set_mode("ok")
    catalog.clear_cache()
    yield exe, set_mode, lambda: (tmp_path / "geoclassify.calls").read_text().splitlines()
    catalog.clear_cache()


def test_models_are_listed_default_first_and_asked_once(fake_cli):
    exe, _, calls = fake_cli
    models = catalog.load_catalog(str(exe))
    assert models.problem is None and models.names() == ["main", "other"]
    main, other = models.models
    assert main.default and main.stride == 16 and main.classes == ("x", "y") and main.colors[1] == (255, 255, 255)
    assert other.task == "segmentation" and other.stride is None and "one class per pixel" in other.summary()
    assert catalog.load_catalog(str(exe)) is models and calls() == ["models --json"]  # cached
    os.utime(exe, ns=(time.time_ns(), time.time_ns() + 10**9))  # reinstalled: asked again
    catalog.load_catalog(str(exe))
    assert calls() == ["models --json", "models --json"]
    assert catalog.model_file_stride([str(exe)], "some.onnx") == 37  # a quarter of the card's 150-pixel chip


def test_a_cli_that_fails_or_hangs_gives_the_default_model(fake_cli):
    exe, set_mode, _ = fake_cli
    set_mode("fail")
    models = catalog.load_catalog(str(exe))
    assert models.names() == [catalog.DEFAULT_NAME] and "no such command 'models'" in models.problem
    catalog.clear_cache()
    set_mode("hang")
    started = time.monotonic()
    models = catalog.load_catalog(str(exe), timeout=1)
    assert time.monotonic() - started < 10
    assert models.names() == [catalog.DEFAULT_NAME] and "did not answer within 1 s" in models.problem
    assert catalog.model_file_stride([str(exe)], "x.onnx", timeout=1) is None


def test_no_cli_gives_the_default_model_and_how_to_set_up(tmp_path):
    models = catalog.load_catalog(str(tmp_path / "missing"))
    assert models.names() == [catalog.DEFAULT_NAME] and models.models[0].stride == 16
    assert "does not exist" in models.problem and "Set up geoclassify" in models.problem


def test_the_real_clis_models(cli):
    """The CLI's own list parses; FALLBACK agrees with its default model."""
    catalog.clear_cache()
    models = catalog.load_catalog(cli)
    assert models.problem is None and models.models[0].default
    want = json.loads(run_cli(cli, "models", "--json").stdout)
    assert sorted(models.names()) == sorted(m["name"] for m in want)
    default = models.models[0]
    fallback = catalog.FALLBACK
    assert (default.name, default.task, default.classes, default.tile_size, default.stride) == (
        fallback.name, fallback.task, fallback.classes, fallback.tile_size, fallback.stride)
    for model in models.models:
        assert len(model.colors) == len(model.classes) > 1
        assert model.stride == catalog.fine_stride(model.task, model.tile_size)
