#!/usr/bin/env bash
# Create a separate venv with RAVE v2 (acids-rave 2.3.1) for the anchor benchmark
# (benchmarks/rave_anchor.py). Safe to re-run: each step is skipped or is a no-op when done.
#
#   bash benchmarks/setup_rave.sh            # venv at ${RAVE_VENV:-/work/.rave-venv}
#   RAVE_VENV=/tmp/rave bash benchmarks/setup_rave.sh
#
# RAVE's own requirements would replace torch, so torch 2.13 (the CPU wheel on disk) goes in first
# and RAVE and its torch-bound dependencies go in with --no-deps. torchaudio 2.11's C extension
# cannot load next to torch 2.13; RAVE needs only its pure-Python transforms, which import once
# the extension's lib/*.so files are renamed away (to *.so.disabled). nn-tilde (--no-deps, it
# would replace torch) provides the base class of RAVE's export wrapper. pip warns that pytest,
# tensorboard and scipy==1.10 are missing: building, exporting and timing RAVE do not need them.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
VENV="${RAVE_VENV:-/work/.rave-venv}"
BIN="$VENV/bin"

test -x "$BIN/python" || "$PYTHON" -m venv "$VENV"
PIP=("$BIN/python" -m pip install --quiet)

"${PIP[@]}" torch==2.13.0
"${PIP[@]}" --no-deps \
    acids-rave==2.3.1 \
    cached-conv==2.5.0 \
    udls==1.1.4 \
    pytorch-lightning==1.9.0 \
    torchaudio==2.11.0 \
    nn-tilde==1.6.0
# Beyond the list in shared/ANCHORS.md, importing RAVE's configs needs PyYAML (pytorch-lightning),
# protobuf and Flask (udls, imported by rave.dataset), and scipy<1.13: rave.pqmf imports
# scipy.signal.kaiser, removed in 1.13 (RAVE pins 1.10), which also keeps numpy below 2.
"${PIP[@]}" gin-config einops absl-py GPUtil librosa "scipy<1.13" lmdb tqdm torchmetrics \
    lightning-utilities "setuptools<81" PyYAML protobuf Flask

# Rename torchaudio's C extension away (again after a reinstall brought it back).
TA_LIB="$("$BIN/python" - <<'EOF'
import importlib.util
import os

spec = importlib.util.find_spec("torchaudio")
print(os.path.join(spec.submodule_search_locations[0], "lib"))
EOF
)"
shopt -s nullglob
for so in "$TA_LIB"/*.so; do
    mv -f "$so" "$so.disabled"
done
shopt -u nullglob

"$BIN/python" -c "import rave, cached_conv, gin, nn_tilde, torch, torchaudio, udls" >&2
echo "$BIN/python"
