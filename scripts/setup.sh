#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: ffmpeg (for videos), a project-local .venv with
# PyTorch 2.11.0 from PyPI (the libtorch that tch 0.24 links against), and the release build.
# Quick when everything is already there: nothing is reinstalled, cargo only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION=2.11.0 # tch 0.24 <-> libtorch 2.11.0 exactly (torch-sys TORCH_VERSION)

say() { printf '[setup] %s\n' "$*" >&2; }

if ! command -v ffmpeg >/dev/null 2>&1; then
  say "installing Debian's ffmpeg (tsal synth encodes videos, tsal demo reads them)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
fi

# Installed version from the package metadata (importing torch takes seconds).
torch_ok() {
  .venv/bin/python - "$TORCH_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
sys.exit(0 if m.version("torch").split("+")[0] == sys.argv[1] else 1)
PY
}
if ! torch_ok; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  say "installing torch==$TORCH_VERSION from PyPI into .venv (CUDA build, ~4.6 GB; a few minutes)"
  .venv/bin/pip install --disable-pip-version-check -q "torch==$TORCH_VERSION"
  torch_ok || { say "torch $TORCH_VERSION did not import from .venv"; exit 1; }
fi
# safetensors (+ numpy, which its writer needs): flowweight/convert.py writes converted
# checkpoints with it; the parity tests read tsal's snapshots with it.
if ! .venv/bin/python -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("safetensors", "numpy")))'; then
  say "installing safetensors and numpy into .venv"
  .venv/bin/pip install --disable-pip-version-check -q "safetensors==0.8.0" "numpy==2.4.6"
fi
# .cargo/config.toml points LIBTORCH at this link, whatever the Python minor version.
rel=$(.venv/bin/python -c 'import os, importlib.util as u; print(os.path.relpath(u.find_spec("torch").submodule_search_locations[0], ".venv"))')
[ "$(readlink .venv/libtorch 2>/dev/null)" = "$rel" ] || ln -sfn "$rel" .venv/libtorch

command -v cargo >/dev/null 2>&1 || { say "cargo not found: install Rust (rustup) first"; exit 1; }
[ -x target/release/tsal ] && say "cargo build --release" || say "cargo build --release (the first build compiles torch-sys' C++ glue: ~2.5 minutes)"
cargo build --release --locked --quiet
