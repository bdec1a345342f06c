#!/usr/bin/env bash
# Screenshot of QGIS (desktop, under Xvfb) with the geoclassify plugin: the demo scene, its classification and
# polygons made by the plugin's "Classify raster" algorithm, styled from the file, and the Processing toolbox.
#
#   scripts/qgis_screenshot.sh [OUTPUT.png]         (default: docs/qgis_plugin.png)
#
# Needs Debian's qgis and xvfb packages and the geoclassify CLI (GEOCLASSIFY_CLI, default .venv/bin/geoclassify,
# made by `make setup`). The plugin is installed from the zip `scripts/build_qgis_plugin.py` builds into a
# throw-away QGIS profile; nothing of the user's own QGIS set-up is used or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$(realpath -m "${1:-docs/qgis_plugin.png}")
CLI=$(realpath -m "${GEOCLASSIFY_CLI:-.venv/bin/geoclassify}")
[ -x "$CLI" ] || { echo "no geoclassify CLI at $CLI: run make setup or set GEOCLASSIFY_CLI" >&2; exit 1; }
command -v xvfb-run >/dev/null || { echo "xvfb-run not found: apt-get install xvfb" >&2; exit 1; }
command -v qgis >/dev/null || { echo "qgis not found: apt-get install qgis python3-qgis qgis-providers" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PROFILE="$WORK/profiles/default"
mkdir -p "$PROFILE/python/plugins" "$PROFILE/QGIS" "$(dirname "$OUT")"
ZIP=$(python3 scripts/build_qgis_plugin.py --out "$WORK/dist")
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$ZIP" "$PROFILE/python/plugins"
cat > "$PROFILE/QGIS/QGIS3.ini" <<EOF
[PythonPlugins]
geoclassify_qgis=true

[Processing]
Configuration\\GEOCLASSIFY_CLI=$CLI

[qgis]
showTips322=false
checkVersion=false
EOF

export GEOCLASSIFY_SCREENSHOT="$OUT" GEOCLASSIFY_SCREENSHOT_DATA="$WORK/data" GEOCLASSIFY_REPO="$ROOT"
mkdir -p "$WORK/data"
unset QT_QPA_PLATFORM
timeout 600 xvfb-run -a -s "-screen 0 1600x1000x24" \
    qgis --profiles-path "$WORK" --nologo --noversioncheck --code "$ROOT/scripts/qgis_screenshot.py" \
    > "$WORK/qgis.log" 2>&1 || true
if [ ! -s "$OUT" ]; then
    echo "no screenshot written; QGIS said:" >&2
    tail -40 "$WORK/qgis.log" >&2
    exit 1
fi
echo "$OUT"
