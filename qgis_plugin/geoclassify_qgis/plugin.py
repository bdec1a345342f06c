"""The plugin object QGIS loads: registers the Processing provider (also in qgis_process, without a GUI)."""

from __future__ import annotations

from qgis.core import QgsApplication

from .provider import GeoclassifyProvider


class GeoclassifyPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: GeoclassifyProvider | None = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name); qgis_process calls this one alone
        if self.provider is None:
            self.provider = GeoclassifyProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
