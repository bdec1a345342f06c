"""The Processing algorithms: Classify raster, Polygonize classification, Show model info.

Each one builds a `geoclassify` command line, runs it with runner.run_cli (progress bar, log, cancel) and,
for layers, styles the outputs with the class names and colours stored in the classification raster. The
bundled models are offered by name, as the CLI lists them (catalog.py); without a CLI the algorithms say how to
set one up (setup_algorithm.py).
"""

from __future__ import annotations

import re
import shlex
import traceback
from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from . import catalog, runner, setup_env
from .layers import raster_file
from .settings import ICON, cli_setting
from .styling import ClassStyle, read_classes

MODEL_FILTER = "geoclassify model files (*.safetensors *.onnx);;All files (*.*)"
BUNDLED_MODEL, MODEL = "BUNDLED_MODEL", "MODEL"
DEVICES = ["auto", "cpu", "cuda"]
HELP_CLI = ("Runs the geoclassify command line tool in a subprocess: set where it is in Processing \u25b8 Options "
            "\u25b8 Providers \u25b8 geoclassify (empty: geoclassify on PATH). Cancel stops it at once and leaves "
            "no output.")


def vector_target(destination: str) -> tuple[str, str | None]:
    """A vector destination as (file, layer name): a path, or Processing's "ogr:dbname='f.gpkg' table=\"t\"" form."""
    if destination.startswith("ogr:"):
        db = re.search(r"dbname='((?:[^'\\]|\\.)*)'", destination)
        table = re.search(r'table="((?:[^"\\]|\\.)*)"', destination)
        if db:
            return db.group(1).replace("\\'", "'"), table.group(1) if table else None
    return destination.split("|", 1)[0], None


class GeoclassifyAlgorithm(QgsProcessingAlgorithm):
    """Shared parts: naming, optional parameters, the model choice, running the CLI with the feedback object."""

    needs_cli = True  # checkParameterValues refuses to start without a CLI, saying how to set one up
    models = catalog.Catalog()  # the bundled models offered (add_model_choice)

    def createInstance(self):  # noqa: N802
        return type(self)()

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("geoclassify", text)

    def icon(self) -> QIcon:
        return QIcon(ICON)

    def svgIconPath(self) -> str:  # noqa: N802
        return ICON

    def _add(self, param, advanced: bool = False):
        if advanced:
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(param)
        return param

    @staticmethod
    def _given(parameters: dict, name: str) -> bool:
        value = parameters.get(name)
        return value is not None and value != "" and not (hasattr(value, "isNull") and value.isNull())

    def _number_args(self, parameters, context, spec: list[tuple[str, str, bool]]) -> list[str]:
        """['--flag', value] for each given optional number: (parameter, flag, is_int)."""
        args: list[str] = []
        for name, flag, is_int in spec:
            if self._given(parameters, name):
                value = (self.parameterAsInt(parameters, name, context) if is_int
                         else self.parameterAsDouble(parameters, name, context))
                args += [flag, str(value)]
        return args

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """Without a geoclassify CLI, one message: where it was looked for and how to set it up."""
        if self.needs_cli:
            try:
                runner.locate_cli(cli_setting())
            except runner.CliNotFound as exc:
                return False, str(exc)
        return super().checkParameterValues(parameters, context)

    def add_model_choice(self) -> None:
        """The bundled models by name (the CLI's default first and preselected) and an optional model file."""
        self.models = catalog.load_catalog(cli_setting())
        names = self.models.names()
        self._add(QgsProcessingParameterEnum(BUNDLED_MODEL, self.tr("Model"), options=names, defaultValue=names[0],
                                             usesStaticStrings=True))
        self._add(QgsProcessingParameterFile(MODEL, self.tr("Model file (optional; used instead of the model above)"),
                                             QgsProcessingParameterFile.File, optional=True, fileFilter=MODEL_FILTER))

    def chosen_model(self, parameters, context, feedback) -> tuple[str | None, catalog.BundledModel | None]:
        """(what to give the CLI as the model: a file, a bundled name or None for its default, the bundled model)."""
        model_file = self.parameterAsFile(parameters, MODEL, context)
        if model_file:
            return model_file, None
        name = self.parameterAsEnumString(parameters, BUNDLED_MODEL, context) or self.models.names()[0]
        if self.models.problem:  # the CLI did not list its models: its own default
            feedback.pushInfo(self.models.problem)
            return None, catalog.FALLBACK
        return name, self.models.get(name)

    def models_help(self) -> str:
        text = "Bundled models:\n" + "\n".join(f"\u2022 {m.summary()}" for m in self.models.models)
        return text + (f"\n(Only the default model is listed: {self.models.problem})" if self.models.problem else "")

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        try:
            return self.process(parameters, context, feedback or QgsProcessingFeedback())
        except (QgsProcessingException, runner.CliNotFound, runner.CliFailed, runner.Canceled,
                setup_env.SetupError) as exc:
            message = str(exc)
            # QGIS keeps the exception that leaves processAlgorithm for good: drop the locals (layers, context,
            # feedback) of the frames below, and of this one, so that they are not kept alive with it
            traceback.clear_frames(exc.__traceback__)
        del parameters, context, feedback
        raise QgsProcessingException(message)

    def process(self, parameters, context, feedback) -> dict:
        raise NotImplementedError

    def run_geoclassify(self, args: list[str], feedback, phases: dict[str, float] | None = None,
                        staging: runner.Staging | None = None) -> runner.RunResult:
        """Run the CLI; its failure, a missing CLI or a cancel become a QgsProcessingException."""
        feedback = feedback or QgsProcessingFeedback()
        public = staging.public if staging is not None else (lambda text: text)
        try:
            command = runner.locate_cli(cli_setting())
            feedback.pushCommandInfo(" ".join(shlex.quote(a) for a in [*command, "--progress-format", "json",
                                                                       *args]))
            return runner.run_cli(command, args, on_log=lambda line: feedback.pushInfo(public(line)),
                                  on_progress=feedback.setProgress,
                                  on_phase=lambda phase: feedback.setProgressText(f"geoclassify: {phase}"),
                                  is_canceled=feedback.isCanceled, phases=phases)
        except (runner.CliNotFound, runner.CliFailed, runner.Canceled) as exc:
            raise QgsProcessingException(public(str(exc))) from None


class ClassifyAlgorithm(GeoclassifyAlgorithm):
    INPUT, OUTPUT, POLYGONS, PROBABILITIES = "INPUT", "OUTPUT", "POLYGONS", "PROBABILITIES"

    def name(self) -> str:
        return "classify"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Classify raster")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Classifies a raster scene with a geoclassify model (one of the bundled models, or a model file) into a "
            "classification raster (uint8 classes, nodata 255) styled with the model's class names and colours. "
            "Optionally also the classes as polygons (categorized with the same colours) and per-class "
            "probabilities. The scene is read window by window, so it can be of any size; scenes at another pixel "
            "size than the model's are resampled on the fly. A chip classifier gives one output pixel per stride: "
            "by default a quarter of its chip, a map fine enough to read.\n\n") + self.models_help() + "\n\n" + HELP_CLI

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self._add(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Input raster")))
        self.add_model_choice()
        self._add(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Classification")))
        self._add(QgsProcessingParameterVectorDestination(self.POLYGONS, self.tr("Polygons"),
                                                          QgsProcessing.TypeVectorPolygon, optional=True,
                                                          createByDefault=False))
        self._add(QgsProcessingParameterRasterDestination(self.PROBABILITIES, self.tr("Class probabilities"),
                                                          optional=True, createByDefault=False))
        self._add(QgsProcessingParameterString("BANDS", self.tr("Bands to feed the model, in its order "
                                                                "(e.g. 3,2,1; empty: as the model says)"),
                                               optional=True), advanced=True)
        integer = QgsProcessingParameterNumber.Integer
        double = QgsProcessingParameterNumber.Double
        self._add(QgsProcessingParameterNumber("STRIDE", self.tr("Stride in pixels (chip classifiers; empty: a "
                                                                 "quarter of the chip; smaller gives a finer map)"),
                                               integer, optional=True, minValue=1), advanced=True)
        self._add(QgsProcessingParameterBoolean("FULLY_CONVOLUTIONAL", self.tr(
            "Fully convolutional (chip classifiers: features of overlapping chips computed once; about 2x faster "
            "fine maps, but chips then see their neighbours: some classes differ)"), defaultValue=False),
            advanced=True)
        self._add(QgsProcessingParameterNumber("TILE_SIZE", self.tr("Tile size in pixels (segmentation models)"),
                                               integer, optional=True, minValue=1), advanced=True)
        self._add(QgsProcessingParameterNumber("OVERLAP", self.tr("Tile overlap in pixels (segmentation models)"),
                                               integer, optional=True, minValue=0), advanced=True)
        self._add(QgsProcessingParameterBoolean("NO_RESAMPLE", self.tr("Keep the scene's pixel size even if the model "
                                                                       "expects another (no resampling)"),
                                                defaultValue=False), advanced=True)
        self._add(QgsProcessingParameterNumber("BATCH_SIZE", self.tr("Batch size (windows per model call; empty: "
                                                                     "as many as suit the backend)"),
                                               integer, optional=True, minValue=1), advanced=True)
        self._add(QgsProcessingParameterEnum("DEVICE", self.tr("Device"), options=DEVICES, defaultValue=0),
                  advanced=True)
        self._add(QgsProcessingParameterNumber("MIN_AREA", self.tr("Polygons: merge regions smaller than (m²)"),
                                               double, optional=True, minValue=0), advanced=True)
        self._add(QgsProcessingParameterNumber("SIMPLIFY", self.tr("Polygons: simplify tolerance (m)"),
                                               double, optional=True, minValue=0), advanced=True)
        self._add(QgsProcessingParameterString("CLASSES", self.tr("Polygons: only these classes (comma-separated "
                                                                  "names; empty: all)"), optional=True),
                  advanced=True)

    def process(self, parameters, context, feedback) -> dict:
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        scene = raster_file(layer, context, feedback, "input raster")
        model, bundled = self.chosen_model(parameters, context, feedback)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        polygons = self.parameterAsOutputLayer(parameters, self.POLYGONS, context) if self._given(
            parameters, self.POLYGONS) else ""
        probabilities = self.parameterAsOutputLayer(parameters, self.PROBABILITIES, context) if self._given(
            parameters, self.PROBABILITIES) else ""
        with runner.Staging() as staging:
            args = ["predict", scene, "-o", staging.stage(output)]
            if model:
                args += ["--model", model]
            bands = self.parameterAsString(parameters, "BANDS", context).strip()
            if bands:
                args += ["--bands", bands.replace(" ", "")]
            args += self._stride_args(parameters, context, feedback, model, bundled)
            if self.parameterAsBoolean(parameters, "FULLY_CONVOLUTIONAL", context):
                args.append("--fully-convolutional")
            args += self._number_args(parameters, context, [("TILE_SIZE", "--tile-size", True),
                                                            ("OVERLAP", "--overlap", True),
                                                            ("BATCH_SIZE", "--batch-size", True)])
            args += ["--device", DEVICES[self.parameterAsEnum(parameters, "DEVICE", context)]]
            if self.parameterAsBoolean(parameters, "NO_RESAMPLE", context):
                args.append("--no-resample")
            if probabilities:
                args += ["--probabilities", staging.stage(probabilities)]
            phases = {"predict": 1.0}
            if polygons:
                path, layer_name = vector_target(polygons)
                args += ["--vector", staging.stage(path)]
                if layer_name:
                    args += ["--layer", layer_name]
                args += self._number_args(parameters, context, [("MIN_AREA", "--min-area", False),
                                                                ("SIMPLIFY", "--simplify", False)])
                classes = self.parameterAsString(parameters, "CLASSES", context).strip()
                if classes:
                    args += ["--classes", classes]
                phases = {"predict": 0.85, "sieve": 0.05, "polygonize": 0.10}
            self.run_geoclassify(args, feedback, phases, staging)
            staging.commit()
        classes = read_classes(output)
        label = bundled.name if bundled is not None else Path(model).stem if model else "default model"
        ClassStyle.attach(context, output, classes, name=f"{self.tr('Classification')} ({label})")
        results = {self.OUTPUT: output}
        if polygons:
            ClassStyle.attach(context, polygons, classes)
            results[self.POLYGONS] = polygons
        if probabilities:
            results[self.PROBABILITIES] = probabilities
        return results

    def _stride_args(self, parameters, context, feedback, model: str | None,
                     bundled: catalog.BundledModel | None) -> list[str]:
        """--stride as given, else a chip classifier's fine-map stride (the bundled model's, or its card's)."""
        if self._given(parameters, "STRIDE"):
            return ["--stride", str(self.parameterAsInt(parameters, "STRIDE", context))]
        if bundled is not None:
            stride = bundled.stride
        elif model:
            stride = catalog.model_file_stride(runner.locate_cli(cli_setting()), model)
        else:
            stride = None
        if stride is None:
            return []
        feedback.pushInfo(f"stride {stride} scene pixels (a quarter of the model's chip: one output pixel per "
                          f"{stride} x {stride}); set Stride for a finer or coarser map")
        return ["--stride", str(stride)]


class PolygonizeAlgorithm(GeoclassifyAlgorithm):
    INPUT, PROBABILITIES, OUTPUT = "INPUT", "PROBABILITIES", "OUTPUT"

    def name(self) -> str:
        return "polygonize"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Polygonize classification")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Turns a classification raster (from Classify raster, or any single-band integer raster) into "
            "polygons: one feature per connected region of a class, with class_id, class_name, area_m2, "
            "perimeter_m (and mean_confidence with a probabilities raster). Optional sieve (merge small regions "
            "into their largest neighbour) and coverage simplification (no gaps, no overlaps). The polygons are "
            "categorized with the class names and colours of the raster.\n\n" + HELP_CLI)

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self._add(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Classification raster")))
        self._add(QgsProcessingParameterRasterLayer(self.PROBABILITIES, self.tr("Class probabilities (adds "
                                                                                "mean_confidence)"),
                                                    optional=True))
        double = QgsProcessingParameterNumber.Double
        self._add(QgsProcessingParameterNumber("MIN_AREA", self.tr("Merge regions smaller than (m²)"), double,
                                               optional=True, minValue=0))
        self._add(QgsProcessingParameterNumber("SIMPLIFY", self.tr("Simplify tolerance (m)"), double,
                                               optional=True, minValue=0))
        self._add(QgsProcessingParameterString("CLASSES", self.tr("Only these classes (comma-separated names; "
                                                                  "empty: all)"), optional=True))
        self._add(QgsProcessingParameterNumber("MIN_AREA_PIXELS", self.tr("Merge regions smaller than (pixels; "
                                                                          "instead of m²)"),
                                               QgsProcessingParameterNumber.Integer, optional=True, minValue=0),
                  advanced=True)
        self._add(QgsProcessingParameterVectorDestination(self.OUTPUT, self.tr("Polygons"),
                                                          QgsProcessing.TypeVectorPolygon))

    def process(self, parameters, context, feedback) -> dict:
        mask = raster_file(self.parameterAsRasterLayer(parameters, self.INPUT, context), context, feedback,
                           "classification raster")
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        path, layer_name = vector_target(output)
        with runner.Staging() as staging:
            args = ["polygonize", mask, "-o", staging.stage(path)]
            if layer_name:
                args += ["--layer", layer_name]
            if self._given(parameters, self.PROBABILITIES):
                args += ["--probabilities", raster_file(self.parameterAsRasterLayer(parameters, self.PROBABILITIES,
                                                                                    context),
                                                        context, feedback, "probabilities raster")]
            args += self._number_args(parameters, context, [("MIN_AREA", "--min-area", False),
                                                            ("MIN_AREA_PIXELS", "--min-area-pixels", True),
                                                            ("SIMPLIFY", "--simplify", False)])
            classes = self.parameterAsString(parameters, "CLASSES", context).strip()
            if classes:
                args += ["--classes", classes]
            sieve = self._given(parameters, "MIN_AREA") or self._given(parameters, "MIN_AREA_PIXELS")
            self.run_geoclassify(args, feedback, {"sieve": 0.5, "polygonize": 0.5} if sieve else {"polygonize": 1.0},
                                 staging)
            staging.commit()
        ClassStyle.attach(context, output, read_classes(mask))
        return {self.OUTPUT: output}


class ModelInfoAlgorithm(GeoclassifyAlgorithm):
    CARD = "CARD"

    def name(self) -> str:
        return "info"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Show model info")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr("Shows the model card of a bundled model or of a geoclassify model file (.safetensors or "
                       ".onnx): architecture, task, class names and colours, bands, normalisation, tile size, pixel "
                       "size, provenance.\n\n") + self.models_help() + "\n\n" + HELP_CLI

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.add_model_choice()
        self.addOutput(QgsProcessingOutputString(self.CARD, self.tr("Model card")))

    def process(self, parameters, context, feedback) -> dict:
        model, _ = self.chosen_model(parameters, context, feedback)
        result = self.run_geoclassify(["info", *([model] if model else [])], feedback, {})
        card = "\n".join(result.stdout).strip()
        for line in card.splitlines():
            feedback.pushInfo(line)
        return {self.CARD: card}
