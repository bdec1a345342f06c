#!/usr/bin/env bash
# Venvs for the peers of benchmarks/bench_peers.py (issue 20, item 5), each in its own folder under /tmp/peers
# (or $PEERS): never the project's .venv, never CI. Needs python3.11 and PyPI; torch is pinned to the release on
# this machine's disk (an unpinned torch would download gigabytes).
#
#     bash benchmarks/peers/make_venvs.sh            # all three
#     bash benchmarks/peers/make_venvs.sh geodeep    # one
#
# torchgeo:     TorchGeo 0.8.1 (the newest release; Python >= 3.11) + requests (its datasets import it; not a
#               dependency) + safetensors (the loop loads geoclassify's weights).
# geodeep:      GeoDeep as its README installs it (ONNX Runtime + rasterio; no torch, no scipy: its median filter
#               then runs its numpy fallback, not scipy's).
# geoinference: NRCan geo-inference 3.2.4 (pulls TorchGeo, pinned to 0.8.1 here) + hydra-core (geo-inference imports
#               it without declaring it; TorchGeo's dependencies happen to bring it today).
# Sizes here: torchgeo 6.0 GB, geoinference 6.2 GB (torch's CUDA libraries: torch==2.14.1 is the CUDA build),
# geodeep 0.3 GB; some 13 GB free under $PEERS.
set -euo pipefail
PEERS=${PEERS:-/tmp/peers}
PYTHON=${PYTHON:-python3.11}
TORCH=(torch==2.14.1 torchvision==0.29.1)

make_venv() {
    local name=$1; shift
    [ -x "$PEERS/$name/bin/python" ] || "$PYTHON" -m venv "$PEERS/$name"
    "$PEERS/$name/bin/python" -m pip install -q --upgrade pip
    "$PEERS/$name/bin/python" -m pip install -q "$@"
    echo "$PEERS/$name: $("$PEERS/$name/bin/python" -m pip freeze | wc -l) packages, $(du -sh "$PEERS/$name" | cut -f1)"
}

for peer in "${@:-torchgeo geodeep geoinference}"; do
    for p in $peer; do
        case $p in
            torchgeo) make_venv torchgeo "${TORCH[@]}" torchgeo==0.8.1 requests safetensors ;;
            geodeep) make_venv geodeep geodeep==0.9.13 ;;
            geoinference) make_venv geoinference "${TORCH[@]}" geo-inference==3.2.4 torchgeo==0.8.1 hydra-core ;;
            *) echo "unknown peer $p (torchgeo, geodeep, geoinference)" >&2; exit 2 ;;
        esac
    done
done
