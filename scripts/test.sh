#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Formatting and lints first: they fail in seconds, the suite takes minutes.
cargo fmt --check
cargo clippy --release --locked --all-targets --quiet -- -D warnings
cargo test --release --locked
