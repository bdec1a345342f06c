"""The "geoclassify" Processing provider: its algorithms, and the CLI setting (settings.py) in Processing's options."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .algorithms import ClassifyAlgorithm, ModelInfoAlgorithm, PolygonizeAlgorithm
from .settings import CLI_SETTING, ICON, SETTING_DESCRIPTION
from .setup_algorithm import SetupAlgorithm


class GeoclassifyProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "geoclassify"

    def name(self) -> str:
        return "geoclassify"

    def longName(self) -> str:  # noqa: N802
        return "geoclassify: land classification of raster scenes"

    def icon(self) -> QIcon:
        return QIcon(ICON)

    def svgIconPath(self) -> str:  # noqa: N802
        return ICON

    def load(self) -> bool:
        try:  # the setting in Processing ▸ Options ▸ Providers (absent without the Processing plugin)
            from processing.core.ProcessingConfig import ProcessingConfig, Setting

            ProcessingConfig.settingIcons[self.name()] = self.icon()
            ProcessingConfig.addSetting(Setting(self.name(), CLI_SETTING, SETTING_DESCRIPTION, "",
                                                valuetype=Setting.FILE,
                                                placeholder="empty: geoclassify on PATH; Set up geoclassify sets it"))
            ProcessingConfig.readSettings()
        except ImportError:
            pass
        self.refreshAlgorithms()
        return True

    def unload(self) -> None:
        try:
            from processing.core.ProcessingConfig import ProcessingConfig

            if CLI_SETTING in ProcessingConfig.settings:
                ProcessingConfig.removeSetting(CLI_SETTING)
        except ImportError:
            pass

    def loadAlgorithms(self) -> None:  # noqa: N802
        for alg in (ClassifyAlgorithm(), PolygonizeAlgorithm(), ModelInfoAlgorithm(), SetupAlgorithm()):
            self.addAlgorithm(alg)

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802
        return ["tif"]

    def supportedOutputVectorLayerExtensions(self) -> list[str]:  # noqa: N802
        return ["gpkg", "fgb", "geojson", "shp"]

    def defaultVectorFileExtension(self, hasGeometry: bool = True) -> str:  # noqa: N802, N803
        return "gpkg"

    def defaultRasterFileExtension(self) -> str:  # noqa: N802
        return "tif"

    def supportsNonFileBasedOutput(self) -> bool:  # noqa: N802
        return False
