#!/usr/bin/env bash
# The soak (issue 11): one node process under connection churn on every transport, publishes to
# users and a channel and a few stalled clients; heap after GC, RSS and fds sampled every minute
# must stay flat. 30 minutes by default, at most 120; all traffic to 127.0.0.1.
#   bench/soak.sh                       # 30 minutes
#   bench/soak.sh --minutes 5           # shortened
#   bench/soak.sh --minutes 5 --sample-seconds 30
set -euo pipefail
cd "$(dirname "$0")/.."
./mvnw -q -B -ntp -pl bench -am package -DskipTests
exec java -cp node/target/halley-node.jar:bench/target/classes dev.halley.bench.Soak \
  --jar node/target/halley-node.jar "$@"
