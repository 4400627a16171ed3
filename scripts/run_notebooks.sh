#!/usr/bin/env bash
# make notebooks: runs each percent-format notebook in notebooks-export/ with Debian's
# python3 (h5py, matplotlib) and writes its exported output: <name>.md (code cells, their
# printed output and the figures) beside the PNGs the notebook saves.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
if ! $PY -c "import h5py, matplotlib" 2>/dev/null; then
  echo "notebooks: needs Debian's python3-h5py and python3-matplotlib (apt-get install python3-h5py python3-matplotlib)" >&2
  exit 1
fi
# The committed export is the mini tier's; any other tier writes to notebooks-export/<tier>/.
tier=${TIER:-mini}
if [ "$tier" != mini ]; then export NOTEBOOK_OUT="notebooks-export/$tier"; fi
for nb in notebooks-export/*.py; do
  $PY scripts/export_notebook.py "$nb"
done
