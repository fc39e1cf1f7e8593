#!/usr/bin/env bash
# Halley under the same load with several JVM flag sets, interleaved (set 1, 2, ..., then again),
# each run a fresh node pinned to CPU 0 (as bench/matrix.sh runs it: pinned to one CPU the JVM
# picks Serial unless told otherwise). Appends the result lines (with "jvm", "env" and the GC
# pauses of the measured window) to $OUT (default docs/bench/jvm-flags.jsonl) and prints a table.
#   bench/jvm-flags.sh                                      # the sets below, ws-50k at scale 0.3, twice
#   ROW=ws-10k USERS=1 RATE=0.2 REPEAT=1 bench/jvm-flags.sh # 15,000 connections at 2k/s: RSS per connection
# Env: ROW (a bench/matrix.sh row id), USERS / RATE (userScale / rateScale), REPEAT, WARMUP,
# MEASURE, SETS (flag sets, one per line: "name|jvm flags|env"), OUT, NOTE.
set -euo pipefail
cd "$(dirname "$0")/.."
ROW=${ROW:-ws-50k}
USERS=${USERS:-0.3}
RATE=${RATE:-0.3}
REPEAT=${REPEAT:-2}
WARMUP=${WARMUP:-10}
MEASURE=${MEASURE:-30}
OUT=${OUT:-docs/bench/jvm-flags.jsonl}
SETS=${SETS:-"none||
issue|-Xms512m -Xmx2g|
serial-small|-XX:+UseSerialGC -Xms512m -Xmx512m -Xmn32m|
serial-mid|-XX:+UseSerialGC -Xms512m -Xmx512m -Xmn96m|
parallel|-XX:+UseParallelGC -Xms512m -Xmx512m -Xmn32m|
g1|-XX:+UseG1GC -Xms512m -Xmx512m -XX:MaxGCPauseMillis=5|
zgc|-XX:+UseZGC -Xms1g -Xmx1g|"}
work=$(mktemp -d /tmp/halley-jvm-flags.XXXX)
mkdir -p "$(dirname "$OUT")"
for rep in $(seq 1 "$REPEAT"); do
  while IFS='|' read -r name jvm env; do
    [ -n "$name" ] || continue
    dir="$work/$name-$rep"
    echo "== $name (run $rep): ${jvm:-no flags} ${env}  load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    bench/matrix.sh only="$ROW" targets=halley userScale="$USERS" rateScale="$RATE" \
      warmup="$WARMUP" measure="$MEASURE" halleyJvm="$jvm" halleyEnv="$env" out="$dir" \
      note="${NOTE:-jvm-flags $name}" >&2 || echo "   run failed" >&2
    if [ -f "$dir/bench/results.jsonl" ]; then
      tail -n +2 "$dir/bench/results.jsonl" \
        | sed "s/^{/{\"set\":\"$name\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",/" >> "$OUT"
    fi
  done <<< "$SETS"
done
java -cp bench/target/benchmarks.jar dev.halley.bench.load.JvmReport "$OUT"
