"""Error tree: every message names the bad value and says how to fix it."""


class GeoclassifyError(Exception):
    """Base of all errors that geoclassify reports as one clear line (exit code 1)."""


class InputError(GeoclassifyError, OSError):
    """An input file is missing, unreadable or not what it should be."""


class OutputError(GeoclassifyError, OSError):
    """An output cannot be written (exists, directory missing, not writable)."""


class ModelFileError(GeoclassifyError, ValueError):
    """A model file is not a geoclassify model, or is damaged."""


class IncompatibleSceneError(GeoclassifyError, ValueError):
    """The scene does not fit the model (bands, dtype)."""


class ConfigError(GeoclassifyError, ValueError):
    """An option or setting has an invalid value."""


class ExportError(GeoclassifyError, RuntimeError):
    """A model could not be exported or quantized."""


class TrainingError(GeoclassifyError, RuntimeError):
    """Training cannot go on (NaN loss, out of memory)."""


class InterruptedRunError(GeoclassifyError, RuntimeError):
    """A run stopped for a reason outside its inputs (a cluster lost); its partial output can be resumed."""


class ClusterError(InterruptedRunError, ConnectionError):
    """The Dask cluster cannot be reached, has no usable workers, or lost them."""
