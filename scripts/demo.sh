#!/usr/bin/env bash
# Builds the plugin and starts the example wiki with it loaded. Open the URL
# it prints (http://127.0.0.1:8080 by default) and log in as alice, bob or
# carol with the password pagechat-demo. Data is kept in ./demo-data, so the
# wiki and its chat history survive restarts. Extra arguments go to the
# wiki, e.g. -addr 127.0.0.1:9090 or -transcript-delay 5s.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .bin
echo "building the plugin and the example wiki..."
go build -o .bin/pagechat-plugin ./plugin/cmd/pagechat-plugin
go build -o .bin/wikihost ./examples/wikihost
exec .bin/wikihost -plugin .bin/pagechat-plugin -data ./demo-data "$@"
