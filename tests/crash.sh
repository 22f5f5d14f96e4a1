#!/usr/bin/env bash
# The long crash run: SIGKILLs `rally serve` under concurrent signed /log requests, restarts it on
# the same database each time, then checks that nothing acknowledged was lost or counted twice.
#
#   tests/crash.sh [KILLS] [SEED]     (KILLS defaults to 25 and is never below 20)
#
# Pass --release through CARGO_FLAGS to drive an optimised binary: CARGO_FLAGS=--release tests/crash.sh 100
set -euo pipefail
cd "$(dirname "$0")/.."
export RALLY_CRASH_KILLS="${1:-25}"
export RALLY_CRASH_SEED="${2:-12648430}"
# shellcheck disable=SC2086
exec cargo test ${CARGO_FLAGS:-} --test it crash_long_run -- --ignored --nocapture
