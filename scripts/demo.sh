#!/usr/bin/env bash
# Builds the plugin and runs the demo host against it. Data is kept in
# ./demo-data so the room's history survives between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .bin
go build -o .bin/pagechat-plugin ./plugin/cmd/pagechat-plugin
exec go run ./examples/quickstart -plugin .bin/pagechat-plugin -data ./demo-data "$@"
