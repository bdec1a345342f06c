"""The plugin's settings: the icon, where the geoclassify CLI is (Processing ▸ Options ▸ Providers), and the folder
in the QGIS profile where "Set up geoclassify" makes its Python environments."""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import QgsApplication, QgsSettings

CLI_SETTING = "GEOCLASSIFY_CLI"
SETTING_KEY = "Processing/Configuration/" + CLI_SETTING
SETTING_DESCRIPTION = "geoclassify executable or Python environment"
ICON = os.path.join(os.path.dirname(__file__), "icon.svg")


def cli_setting() -> str:
    """The configured path to the CLI.

    Returns:
        The path as set ('' means: geoclassify on PATH).
    """
    value = QgsSettings().value(SETTING_KEY, "")
    return "" if value is None else str(value)


def set_cli_setting(value: str) -> None:
    """Set the CLI path (as the Processing options dialog does).

    Args:
        value: an executable, a Python environment folder, or '' for geoclassify on PATH.
    """
    QgsSettings().setValue(SETTING_KEY, value)
    try:
        from processing.core.ProcessingConfig import ProcessingConfig

        if CLI_SETTING in ProcessingConfig.settings:
            ProcessingConfig.settings[CLI_SETTING].value = value
    except ImportError:
        pass


def environments_root() -> Path:
    """The folder of the Python environments "Set up geoclassify" makes: geoclassify/ in the QGIS profile."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "geoclassify"
