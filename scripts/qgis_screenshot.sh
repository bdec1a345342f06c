#!/usr/bin/env bash
# Screenshots of QGIS (desktop, under Xvfb) with the geoclassify plugin.
#
#   scripts/qgis_screenshot.sh [OUTPUT.png] [map|setup]      (default: docs/qgis_plugin.png map)
#
# map: the demo scene, its classification and polygons made by the plugin's "Classify raster" algorithm, styled
#   from the file, and the Processing toolbox; with the geoclassify CLI GEOCLASSIFY_CLI (default
#   .venv/bin/geoclassify, made by `make setup`).
# setup: the "Set up geoclassify" dialog after an offline set-up (no CLI configured before it): the project's wheel
#   built now and its core dependencies' wheels (scripts/qgis_wheels.py, cached in tests_qgis/.wheels), with pip
#   seeing no other index or wheels. Its environment goes into the throw-away profile and is deleted with it.
#
# Needs Debian's qgis and xvfb packages. The plugin is installed from the zip `scripts/build_qgis_plugin.py` builds
# into a throw-away QGIS profile; nothing of the user's own QGIS set-up is used or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$(realpath -m "${1:-docs/qgis_plugin.png}")
MODE=${2:-map}
case "$MODE" in map|setup) ;; *) echo "unknown mode $MODE: map or setup" >&2; exit 2 ;; esac
CLI=$(realpath -m "${GEOCLASSIFY_CLI:-.venv/bin/geoclassify}")
[ -x "$CLI" ] || { echo "no geoclassify CLI at $CLI: run make setup or set GEOCLASSIFY_CLI" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "xvfb-run not found: apt-get install xvfb" >&2; exit 1; }
command -v qgis >/dev/null || { echo "qgis not found: apt-get install qgis python3-qgis qgis-providers" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PROFILES="$WORK/QGIS3"
PROFILE="$PROFILES/profiles/default"
mkdir -p "$PROFILE/python/plugins" "$PROFILE/QGIS" "$(dirname "$OUT")"
ZIP=$(python3 scripts/build_qgis_plugin.py --out "$WORK/dist")
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$ZIP" "$PROFILE/python/plugins"
if [ "$MODE" = map ]; then CLI_SETTING=$CLI; else CLI_SETTING=; fi  # setup: as before any set-up
cat > "$PROFILE/QGIS/QGIS3.ini" <<EOF
[PythonPlugins]
geoclassify_qgis=true

[Processing]
Configuration\\GEOCLASSIFY_CLI=$CLI_SETTING

[qgis]
showTips322=false
checkVersion=false
EOF

export GEOCLASSIFY_SCREENSHOT="$OUT" GEOCLASSIFY_SCREENSHOT_DATA="$WORK/data" GEOCLASSIFY_REPO="$ROOT"
export GEOCLASSIFY_SCREENSHOT_MODE="$MODE"
mkdir -p "$WORK/data"
if [ "$MODE" = setup ]; then
    WHEELS=$(python3 scripts/qgis_wheels.py --out tests_qgis/.wheels --builder "$(dirname "$CLI")/python")
    export GEOCLASSIFY_SCREENSHOT_WHEEL="$(echo "$WHEELS" | sed -n 1p)" GEOCLASSIFY_SCREENSHOT_WHEELS="$(echo "$WHEELS" | sed -n 2p)"
    export PIP_CONFIG_FILE=/dev/null  # pip sees the given wheels only
    unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL
fi
unset QT_QPA_PLATFORM
timeout 600 xvfb-run -a -s "-screen 0 1600x1000x24" \
    qgis --profiles-path "$PROFILES" --nologo --noversioncheck --code "$ROOT/scripts/qgis_screenshot.py" \
    > "$WORK/qgis.log" 2>&1 || true
if [ ! -s "$OUT" ]; then
    echo "no screenshot written; QGIS said:" >&2
    tail -40 "$WORK/qgis.log" >&2
    exit 1
fi
echo "$OUT"
