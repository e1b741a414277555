#!/usr/bin/env bash
# Rebuilds the tracking site's bundle into dist/, which is committed so that `cargo build`
# needs neither Node nor the network. Needs Node 18+ and npm; installs exactly the
# locked packages (package-lock.json), then bundles with esbuild (build.mjs).
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
node build.mjs
