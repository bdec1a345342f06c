"""Optional dependencies: import one, or fail with one line that names the extra that installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from geoclassify.errors import GeoclassifyError


def require(module: str, extra: str, needed_for: str) -> ModuleType:
    """Import `module`, or raise GeoclassifyError saying which extra installs it.

    Args:
        module: the module to import, e.g. "onnxruntime" or "matplotlib.pyplot".
        extra: the geoclassify extra that installs it, e.g. "onnx".
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
        missing = exc.name or module
        raise GeoclassifyError(f"{needed_for} need {missing}, which is not installed: "
                               f"pip install 'geoclassify[{extra}]'") from None
