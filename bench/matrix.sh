#!/usr/bin/env bash
# The benchmark matrix: Halley and nginx + nchan side by side (and CometD, Pushpin: targets=...) on every transport and shape of
# docs/benchmarks.md, server pinned to CPU 0 and the load generator to CPU 1. Writes
# docs/bench/results.jsonl, docs/bench/*.png and docs/benchmarks.md.
#   bench/matrix.sh                    # everything (about 30 minutes)
#   bench/matrix.sh quick=true         # a tenth of the users and load, short phases: checks the tools
#   bench/matrix.sh only=ws-50k,lp-20k note="..."   # some rows (others are kept from the last run)
#   bench/matrix.sh targets=halley,nchan,cometd,pushpin   # the peers too, on the rows whose transport they have
# Options: see dev.halley.bench.load.Matrix. Needs nginx + libnginx-mod-nchan (../shared/peers/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f bench/target/benchmarks.jar ] || [ ! -f node/target/halley-node.jar ] \
   || [ -n "$(find bench/src node/src cluster/src router-lib/src -newer bench/target/benchmarks.jar -type f | head -1)" ]; then
  ./mvnw -q -B -ntp -DskipTests -Dspotless.check.skip=true -pl bench -am package
fi
if [ ! -f /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
  echo "nchan is not installed (run ../shared/peers/install.sh), or pass targets=halley" >&2
fi
ulimit -n "$(ulimit -Hn)"
exec java -Xmx2g -Djava.awt.headless=true -cp bench/target/benchmarks.jar dev.halley.bench.load.Matrix "$@"
