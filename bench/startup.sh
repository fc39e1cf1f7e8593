#!/usr/bin/env bash
# Startup time (issue 12): a node from start to /readyz, and `./halley run` to a usable chat,
# wall and CPU time, the launcher's way and plain `java -jar`, interleaved (dev.halley.bench.Startup).
#   bench/startup.sh                    # 5 runs of each variant
#   bench/startup.sh runs=3 only=node   # only=node|run|node-launcher|...
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -B -ntp -DskipTests -Dspotless.check.skip=true -pl bench,examples/chat -am package
exec java -cp bench/target/classes dev.halley.bench.Startup root=. "$@"
