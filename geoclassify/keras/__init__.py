"""The Keras/TensorFlow path: a Keras 3 ResNet-50 on tf.data pipelines, saved as an ONNX model file with its card.

TensorFlow is imported only here, and only in a process of its own (`python -m geoclassify.keras`, which
`geoclassify train --framework keras` starts): torch and TensorFlow in one process can crash.
"""

from __future__ import annotations

import importlib.util
import os

from geoclassify.errors import ConfigError, GeoclassifyError

INSTALL_HINT = "the Keras trainer needs TensorFlow and Keras 3: pip install 'geoclassify[keras]'"
ARCHITECTURES = {"resnet50": "ResNet50"}  # --arch -> keras.applications constructor


def check_arch(arch: str) -> None:
    if arch not in ARCHITECTURES:
        raise ConfigError(f"the Keras trainer builds {', '.join(ARCHITECTURES)}, not {arch!r}; "
                          "other architectures train with --framework torch")


def keras_available() -> bool:
    """Whether TensorFlow and Keras are installed, found without importing them."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "keras"))
    except (ImportError, ValueError):
        return False


def import_keras():
    """(tensorflow, keras) with Keras 3 on the TensorFlow backend, or a one-line error naming the extra."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        raise GeoclassifyError(INSTALL_HINT) from None
    if int(keras.__version__.split(".")[0]) < 3 or keras.backend.backend() != "tensorflow":
        raise GeoclassifyError(f"the Keras trainer needs Keras 3 on the TensorFlow backend, found Keras "
                               f"{keras.__version__} on {keras.backend.backend()}; set KERAS_BACKEND=tensorflow "
                               "or pip install 'geoclassify[keras]'")
    return tf, keras
