#!/usr/bin/env bash
# One command: install what is missing, build, and run the demo supervision tree, in which
# example actors crash (a trap, an infinite loop, a memory bomb) and their supervisor restarts them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_TARGETS="theater theater_examples" scripts/build.sh
exec build/theater run build/examples/demo.toml \
  --request "to counter inc" --request "to counter inc" --request "to counter get" \
  --request "to crasher hello" \
  --request "to crasher trap" \
  --request "to crasher loop" \
  --request "to crasher oom" \
  --request "to crasher hello" \
  --request "to counter get"
