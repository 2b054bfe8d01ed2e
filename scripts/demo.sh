#!/usr/bin/env bash
# demo.sh BUILD_DIR - the main job: the seed's download -> resize -> upload
# pipeline with 3/4/5 workers per stage, on the pipeline API (prints
# "1000 items finished" and the per-stage statistics).
set -euo pipefail
dir=${1:-build/plain}
exec "$dir/examples/pipeline_seed"
