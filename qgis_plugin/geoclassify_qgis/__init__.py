"""geoclassify for QGIS: the `geoclassify` command line tool in the Processing toolbox.

A thin plugin: it builds command lines and runs the CLI in a subprocess (torch never loads inside QGIS).
"""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import GeoclassifyPlugin

    return GeoclassifyPlugin(iface)
