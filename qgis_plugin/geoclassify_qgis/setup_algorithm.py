"""The "Set up geoclassify" Processing algorithm: geoclassify in a Python environment of its own, made from QGIS.

The work is setup_env.install (plain Python); this algorithm takes its parameters, reports its steps and pip's
lines to the Processing log and progress bar, cancels it with the Cancel button, and on success points the
plugin's CLI setting at the new environment (removing the environments earlier set-ups made), then reloads the
provider's algorithms so that "Classify raster" lists the new CLI's models.
"""

from __future__ import annotations

from qgis.core import (
    QgsApplication,
    QgsProcessingOutputFile,
    QgsProcessingOutputFolder,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
    QgsProcessingParameterString,
)

from . import catalog, setup_env
from .algorithms import GeoclassifyAlgorithm
from .runner import SETTING_HELP
from .settings import cli_setting, environments_root, set_cli_setting


class SetupAlgorithm(GeoclassifyAlgorithm):
    WHEEL, FOLDER, EXTRAS, INDEX_URL, PYTHON = "WHEEL", "FOLDER", "EXTRAS", "INDEX_URL", "PYTHON"
    ENVIRONMENT, CLI, VERSION = "ENVIRONMENT", "CLI", "VERSION"
    needs_cli = False

    def name(self) -> str:
        return "setup"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Set up geoclassify")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Installs the geoclassify command line tool into a Python environment of its own, in your QGIS profile "
            "folder ({root}), and sets it as the geoclassify path of the other algorithms ({setting}).\n\n"
            "From the package index (PyPI) by default. Offline: give a folder of wheel files (geoclassify and its "
            "dependencies, e.g. made on a machine with internet by pip download --dest FOLDER --only-binary :all: "
            "geoclassify), and/or a geoclassify wheel file. Extras add optional parts: torch (the PyTorch backend "
            "and .safetensors models; large); without extras, the core runs the bundled models with ONNX "
            "Runtime.\n\n"
            "The environment is made with a Python 3.11 or newer found on this computer (QGIS's own interpreter "
            "where it can make one; advanced: give one), without QGIS's packages. Cancel stops pip and removes "
            "what it had installed; so does a failure, with pip's reason. An earlier set-up's environment is "
            "replaced only when the new one works."
        ).format(root=environments_root(), setting=SETTING_HELP)

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self._add(QgsProcessingParameterFile(self.WHEEL, self.tr("geoclassify wheel file (empty: geoclassify from "
                                                                 "the package index or the folder below)"),
                                             QgsProcessingParameterFile.File, optional=True,
                                             fileFilter="Python wheels (*.whl)"))
        self._add(QgsProcessingParameterFile(self.FOLDER, self.tr("Folder of wheels for an offline set-up (empty: "
                                                                  "the package index)"),
                                             QgsProcessingParameterFile.Folder, optional=True))
        self._add(QgsProcessingParameterString(self.EXTRAS, self.tr("Extras (comma-separated, e.g. torch; empty: "
                                                                    "the core, ONNX Runtime)"), optional=True))
        self._add(QgsProcessingParameterString(self.INDEX_URL, self.tr("Package index URL (empty: pip's own, PyPI)"),
                                               optional=True), advanced=True)
        self._add(QgsProcessingParameterFile(self.PYTHON, self.tr("Python interpreter to make the environment with "
                                                                  "(empty: found on this computer)"),
                                             QgsProcessingParameterFile.File, optional=True,
                                             fileFilter="All files (*)"), advanced=True)  # python3: no extension
        self.addOutput(QgsProcessingOutputFolder(self.ENVIRONMENT, self.tr("Python environment")))
        self.addOutput(QgsProcessingOutputFile(self.CLI, self.tr("geoclassify command")))
        self.addOutput(QgsProcessingOutputString(self.VERSION, self.tr("geoclassify version")))

    def source(self, parameters, context) -> setup_env.Source:
        """What to install, from the parameters; SetupError for a bad one."""
        source = setup_env.Source(
            wheel=self.parameterAsFile(parameters, self.WHEEL, context),
            folder=self.parameterAsFile(parameters, self.FOLDER, context),
            extras=setup_env.parse_extras(self.parameterAsString(parameters, self.EXTRAS, context)),
            index_url=self.parameterAsString(parameters, self.INDEX_URL, context).strip())
        source.check()
        return source

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """Our own message for a bad source (before QGIS's generic one, e.g. for a file that is not a .whl)."""
        try:
            self.source(parameters, context)
        except setup_env.SetupError as exc:
            return False, str(exc)
        return super().checkParameterValues(parameters, context)

    def process(self, parameters, context, feedback) -> dict:
        source = self.source(parameters, context)
        root = environments_root()
        feedback.pushInfo(f"setting up {source.describe()} in {root}")

        calls = setup_env.Callbacks(on_step=feedback.setProgressText, on_progress=feedback.setProgress,
                                    on_log=feedback.pushConsoleInfo, is_canceled=feedback.isCanceled)
        installed = setup_env.install(source, root, self.parameterAsFile(parameters, self.PYTHON, context), calls)
        previous = cli_setting()
        set_cli_setting(str(installed.environment))
        catalog.clear_cache()
        for path in setup_env.remove_previous(root, keep=installed.environment):
            feedback.pushInfo(f"removed the environment of an earlier set-up: {path}")
        size = setup_env.folder_size(installed.environment) / 1e6
        feedback.pushInfo(f"geoclassify {installed.version} is set up in {installed.environment} ({size:.0f} MB, "
                          f"{installed.seconds:.0f} s); the geoclassify algorithms use it now (the path in "
                          f"{SETTING_HELP} was {previous or 'empty: geoclassify on PATH'})")
        return {self.ENVIRONMENT: str(installed.environment), self.CLI: str(installed.cli),
                self.VERSION: installed.version}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        """In the main thread, after a set-up: reload the algorithms, so that they list the new CLI's models."""
        provider = QgsApplication.processingRegistry().providerById("geoclassify")
        if provider is not None:
            provider.refreshAlgorithms()
        return {}
