#!/usr/bin/env bash
# demo.sh BUILD_DIR - the main job: the seed's download -> resize -> upload
# pipeline with 3/4/5 workers per stage.
set -euo pipefail
dir=${1:-build/plain}
exec "$dir/examples/seed_pipeline"
