"""Run inside QGIS desktop by scripts/qgis_screenshot.sh (`qgis --code`): do something, screenshot, quit.

$GEOCLASSIFY_SCREENSHOT_MODE:
- map (default): adds the demo scene, runs the plugin's "Classify raster" through Processing (as the toolbox does,
  loading the outputs with their styles), opens the Processing toolbox on the geoclassify provider, waits for the
  map to be drawn and saves a picture of the main window to $GEOCLASSIFY_SCREENSHOT;
- setup: opens the "Set up geoclassify" dialog with the wheel $GEOCLASSIFY_SCREENSHOT_WHEEL and the folder of
  wheels $GEOCLASSIFY_SCREENSHOT_WHEELS (an offline set-up), runs it as the Run button does and, once it has
  finished, saves a picture of the dialog (its log) to $GEOCLASSIFY_SCREENSHOT.
"""

import os
import shutil
import traceback
from pathlib import Path

from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QDockWidget, QTextEdit
from qgis.utils import iface

OUT = os.environ["GEOCLASSIFY_SCREENSHOT"]
MODE = os.environ.get("GEOCLASSIFY_SCREENSHOT_MODE", "map")
DATA = Path(os.environ["GEOCLASSIFY_SCREENSHOT_DATA"])
SCENE = Path(os.environ["GEOCLASSIFY_REPO"]) / "examples" / "data" / "naip_farmland.tif"


def fail() -> None:
    traceback.print_exc()
    os._exit(1)


def show_toolbox() -> None:
    dock = iface.mainWindow().findChild(QDockWidget, "ProcessingToolbox")
    if dock is None:
        return
    dock.show()
    dock.raise_()
    search = getattr(dock, "searchBox", None)
    if search is not None:
        search.setText("geoclassify")
    tree = getattr(dock, "algorithmTree", None)
    if tree is not None:
        tree.expandAll()


def classify() -> None:
    try:
        import processing

        window = iface.mainWindow()
        window.resize(1600, 1000)
        window.showMaximized()
        copy = DATA / SCENE.name  # QGIS writes statistics beside a scene it draws: not into the repository
        shutil.copyfile(SCENE, copy)
        scene = QgsRasterLayer(str(copy), "naip_farmland (NAIP, 5 m)")
        QgsProject.instance().addMapLayer(scene)
        processing.runAndLoadResults("geoclassify:classify", {
            "INPUT": scene, "OUTPUT": str(DATA / "classes.tif"), "POLYGONS": str(DATA / "fields.gpkg"),
            "STRIDE": 8, "MIN_AREA": 20000, "SIMPLIFY": 10})
        for layer in QgsProject.instance().mapLayers().values():
            if isinstance(layer, QgsVectorLayer):  # polygons over the classification over the scene
                layer.setOpacity(0.4)
            elif layer.id() != scene.id():
                layer.setOpacity(0.45)
            layer.triggerRepaint()
        iface.layerTreeView().expandAll()
        browser = window.findChild(QDockWidget, "Browser")
        if browser is not None:
            browser.hide()
        show_toolbox()
        QTimer.singleShot(2000, lambda: zoom(scene))
    except Exception:  # noqa: BLE001
        fail()


def zoom(scene) -> None:
    """Fit the scene once the window has its final size, then give the map time to draw."""
    try:
        canvas = iface.mapCanvas()
        canvas.setExtent(scene.extent())
        canvas.refresh()
        QTimer.singleShot(3000, shoot)
    except Exception:  # noqa: BLE001
        fail()


def shoot() -> None:
    try:
        if iface.mapCanvas().isDrawing():
            QTimer.singleShot(500, shoot)
            return
        if not iface.mainWindow().grab().save(OUT):
            raise RuntimeError(f"cannot save {OUT}")
        os._exit(0)
    except Exception:  # noqa: BLE001
        fail()


def set_up() -> None:
    """The set-up dialog, run as its Run button does; kept open when it has finished (its log shown)."""
    try:
        import processing
        from processing.core.ProcessingConfig import ProcessingConfig

        ProcessingConfig.setSettingValue(ProcessingConfig.KEEP_DIALOG_OPEN, True)
        dialog = processing.createAlgorithmDialog("geoclassify:setup", {
            "WHEEL": os.environ["GEOCLASSIFY_SCREENSHOT_WHEEL"], "FOLDER": os.environ["GEOCLASSIFY_SCREENSHOT_WHEELS"]})
        KEEP.append(dialog)
        dialog.resize(1100, 820)
        dialog.show()
        dialog.algorithmFinished.connect(lambda ok, results: QTimer.singleShot(1500, lambda: shoot_dialog(dialog, ok)))
        QTimer.singleShot(1500, dialog.runAlgorithm)
    except Exception:  # noqa: BLE001
        fail()


def shoot_dialog(dialog, ok: bool) -> None:
    try:
        if not ok:
            print(dialog.findChild(QTextEdit, "txtLog").toPlainText())
            raise RuntimeError("the set-up failed")
        if not dialog.grab().save(OUT):
            raise RuntimeError(f"cannot save {OUT}")
        os._exit(0)
    except Exception:  # noqa: BLE001
        fail()


KEEP: list = []  # the dialog lives as long as QGIS
QTimer.singleShot(3000, set_up if MODE == "setup" else classify)
