#!/usr/bin/env bash
# The project's one test command: formatting, vet, staticcheck, generated
# code, every test under the race detector, and a short run of each fuzz
# target. README.md and .ci/run both call this script.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== tools"
bash scripts/tools.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.bin/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
.bin/staticcheck ./...

echo "== generated code"
bash scripts/check-generated.sh

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...

echo "== smoke test with curl against a real wikihost"
bash scripts/smoke.sh

echo "== fuzz (short)"
# Each target runs briefly: enough to catch a regression on the seed corpus
# plus some mutation, short enough for every CI run. The budget is a count
# of executions, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" as a failure when the
# time runs out under CPU load (go.dev/issue/75804, fixed in Go 1.27).
fuzz_time=${FUZZ_BUDGET:-10000x}
for target in $(go run ./scripts/fuzztargets); do
	pkg=${target%%:*}
	name=${target##*:}
	echo "-- $pkg $name"
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzz_time" "$pkg"
done
