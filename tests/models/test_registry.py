"""The registry imports no architecture; the factory loads the built-in ones, then builds from the registry."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch.nn as nn

from geoclassify.errors import ModelFileError
from geoclassify.models import registry
from geoclassify.models.factory import BUILTIN, create_model, list_models

MODELS = Path(registry.__file__).parent
BUILTIN_MODULES = tuple(BUILTIN)
ARCHITECTURES = {name.rsplit(".", 1)[1] for name in BUILTIN_MODULES}


def models_imports(module: str) -> set[str]:
    """The geoclassify.models modules that `module` (a file of geoclassify/models) imports, anywhere in it."""
    tree = ast.parse((MODELS / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {n.split(".")[2] for n in names if n.startswith("geoclassify.models.")}


def test_registry_imports_no_architecture_and_no_torch():
    code = ("import sys, geoclassify.models.registry\n"
            f"loaded = [m for m in {BUILTIN_MODULES!r} + ('geoclassify.models.factory', 'torch') if m in sys.modules]\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_architectures_import_only_registry_and_layers():
    assert not models_imports("registry")
    for module in ARCHITECTURES:
        assert models_imports(module) <= {"registry", "layers"}, module


def test_factory_lists_and_builds_builtins():
    names = {m.name for m in list_models()}
    assert {"compact_cnn", "tiny_fcn", "cnn_vit", "unet_resnet34", "resnet50"} <= names
    assert {"classification", "segmentation"} == {m.task for m in list_models()}
    assert isinstance(create_model("tiny_fcn", 3, 2), nn.Module)
    with pytest.raises(ModelFileError, match="unknown architecture 'nope'; known: .*compact_cnn"):
        create_model("nope", 3, 2)
    with pytest.raises(ModelFileError, match="no published weights"):
        create_model("tiny_fcn", 3, 2, pretrained=True)


def test_a_registered_architecture_is_listed_and_built(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register_model("test_linear", task="classification")
    def test_linear(in_channels: int, num_classes: int, bias: bool = True) -> nn.Module:
        """a 1x1 convolution"""
        return nn.Conv2d(in_channels, num_classes, 1, bias=bias)

    entry = registry.lookup("test_linear")
    assert entry.factory is test_linear and entry.description == "a 1x1 convolution" and not entry.hub
    assert "test_linear" in {m.name for m in registry.list_models()} & {m.name for m in list_models()}
    model = create_model("test_linear", 4, 3, bias=False)
    assert model.weight.shape == (3, 4, 1, 1) and model.bias is None


def test_the_builtin_table_names_what_each_module_registers():
    list_models()  # every built-in module imported
    for module, names in BUILTIN.items():
        assert sorted(names) == sorted(m.name for m in registry.list_models() if m.factory.__module__ == module)


@pytest.mark.parametrize(("architecture", "imported", "not_imported"), [
    ("compact_cnn", "geoclassify.models.compact", ("timm", "torchvision", "geoclassify.models.timm_models")),
    ("cnn_vit", "geoclassify.models.cnn_vit", ("timm", "torchvision", "geoclassify.models.compact")),
    ("resnet50", "timm", ("geoclassify.models.segmentation", "geoclassify.models.compact")),
])
def test_building_an_architecture_imports_only_its_own_module(architecture, imported, not_imported):
    code = ("import sys\nfrom geoclassify.models.factory import create_model\n"
            f"create_model({architecture!r}, 3, 2)\n"
            f"assert {imported!r} in sys.modules\n"
            f"loaded = [m for m in {not_imported!r} if m in sys.modules]\nassert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
