#!/usr/bin/env bash
# demo.sh BUILD_DIR - the main job: `photopipe demo` generates sample photos,
# runs them through download -> resize -> upload (local folder to local
# album) and prints the per-stage summary.  Without photopipe (built with
# CV_BUILD_PHOTOPIPE=OFF) it runs the seed's toy pipeline on the pipeline API.
set -euo pipefail
dir=${1:-build/plain}
if [ -x "$dir/apps/photopipe/photopipe" ]; then
  exec "$dir/apps/photopipe/photopipe" demo
fi
exec "$dir/examples/pipeline_seed"
