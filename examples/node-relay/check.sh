#!/usr/bin/env bash
# Check the Node.js relay with segpendo from a shell: the recipe for a system that is not written in Python.
#
#   examples/node-relay/check.sh [more segpendo check options, e.g. --count 2000 --report report.json]
#
# 1. `segpendo serve` runs the fake Pendo server (and the fake Segment API) on free ports, with keys;
# 2. the system under test starts with the fake's URL as its Pendo base URL;
# 3. `segpendo check --pendo URL` sends it signed Segment webhooks, waits for its Pendo traffic to settle, and
#    compares with profile track-api+metadata. The exit code is the check's: 0 conforms, 1 differs, 2 usage.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_for() {  # wait_for FILE WHAT: until FILE has its ready line, at most 10 s
  for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
  echo "check.sh: $2 did not start within 10 s" >&2; exit 2
}
field() { sed -E "s/.*\"$1\": \"([^\"]+)\".*/\\1/" "$2"; }

segpendo serve --track-secret track-secret --integration-key integration-key > "$work/fakes.json" &
wait_for "$work/fakes.json" "segpendo serve"
pendo="$(field pendo "$work/fakes.json")"

PENDO_URL="$pendo" PENDO_TRACK_SECRET=track-secret PENDO_INTEGRATION_KEY=integration-key \
  SEGMENT_SHARED_SECRET=webhook-secret node "$here/relay.js" > "$work/relay.json" &
wait_for "$work/relay.json" "the relay"
relay="$(field relay "$work/relay.json")"

segpendo check --sut "$relay" --via webhook --secret webhook-secret --profile track-api+metadata --pendo "$pendo" "$@"
