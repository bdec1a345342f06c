"""The Keras/TensorFlow path: a Keras 3 ResNet-50 on tf.data pipelines, saved as an ONNX model file with its card.

TensorFlow is imported only here, and only in a process of its own (`python -m geoclassify.cli.keras_process`,
which `geoclassify train --framework keras` starts): torch and TensorFlow in one process can crash.
"""

from __future__ import annotations

import os
from types import ModuleType

from geoclassify.errors import ConfigError, GeoclassifyError
from geoclassify.optional import first_missing, install_command, require, require_installed

EXTRA = "keras"  # the extra that installs TensorFlow and Keras 3
NEEDED_FOR = "Keras training runs"
MODULES = ("tensorflow", "keras")  # in the order import_keras imports them
ARCHITECTURES = {"resnet50": "ResNet50"}  # --arch -> keras.applications constructor


def check_arch(arch: str) -> None:
    """Refuse an architecture the Keras trainer does not build.

    Args:
        arch: the config's model.arch.

    Raises:
        ConfigError: `arch` is not one of ARCHITECTURES.
    """
    if arch not in ARCHITECTURES:
        raise ConfigError(f"the Keras trainer builds {', '.join(ARCHITECTURES)}, not {arch!r}; "
                          "other architectures train with --framework torch")


def keras_available() -> bool:
    """Whether TensorFlow and Keras are installed, found without importing them."""
    return first_missing(MODULES) is None


def check_installed() -> None:
    """Fail as import_keras would when TensorFlow or Keras is missing, without importing them.

    Raises:
        GeoclassifyError: TensorFlow or Keras is not installed; the message names the keras extra.
    """
    require_installed(MODULES, EXTRA, NEEDED_FOR)


def import_keras() -> tuple[ModuleType, ModuleType]:
    """Import TensorFlow and Keras 3 on the TensorFlow backend.

    Returns:
        (tensorflow, keras).

    Raises:
        GeoclassifyError: TensorFlow or Keras is not installed, or Keras is older than 3 or runs on another
            backend; the message names the keras extra.
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tf = require("tensorflow", EXTRA, NEEDED_FOR)
    keras = require("keras", EXTRA, NEEDED_FOR)
    if int(keras.__version__.split(".")[0]) < 3 or keras.backend.backend() != "tensorflow":
        raise GeoclassifyError(f"the Keras trainer needs Keras 3 on the TensorFlow backend, found Keras "
                               f"{keras.__version__} on {keras.backend.backend()}; set KERAS_BACKEND=tensorflow "
                               f"or {install_command(EXTRA)}")
    return tf, keras
