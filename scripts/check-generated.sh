#!/usr/bin/env bash
# Fails unless `buf lint` passes and `buf generate` reproduces the committed
# code under proto/gen byte for byte. Generation goes to a scratch directory,
# never over the committed tree, so a failed check changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
export PATH="$PWD/.bin:$PATH"
buf lint
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
buf generate --output "$scratch"
if ! diff -ru proto/gen "$scratch/proto/gen"; then
	echo "proto/gen is stale: run 'bash scripts/tools.sh && PATH=\$PWD/.bin:\$PATH buf generate' and commit the result" >&2
	exit 1
fi
echo "generated code is current"
