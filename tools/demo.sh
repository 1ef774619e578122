#!/bin/bash
# The README's main command: installs what is missing, builds m3ae in build/, and runs the main job.
# Until the pretraining issue lands, the main job is `m3ae version` (what was built, which libraries,
# which devices); it then becomes a short pretraining run on the embedded phantom corpus.
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh || exit 5
bash tools/build.sh || exit 1
./build/m3ae version
