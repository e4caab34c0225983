#!/usr/bin/env bash
# The project's one test command: formatting, vet, staticcheck, generated
# code, every test under the race detector, the curl smoke test, and a short
# run of each fuzz target. README.md and .ci/run both call this script.
#
# First it installs the Debian packages the tests use, when it runs as root
# with apt-get (PAGECHAT_NO_INSTALL=1 turns that off); whatever it cannot
# install it names, with what will not run without it. Every step runs even
# after an earlier one failed. The end lists every skipped test and step,
# then one line with each step's result and time; the exit status is 1 if
# any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use, one an entry: the package, the commands of
# which any one means it is there already, and what cannot run without it.
# Tests that come to need more (prosody, postgresql) add them here.
debian_packages=(
	"chromium|${PAGECHAT_CHROMIUM:-} chromium chromium-browser google-chrome-stable google-chrome|the browser tests (examples/wikihost/browsertest)"
	"curl|curl|the smoke test (scripts/smoke.sh)"
	"git|git|nothing (gofmt finds the Go files with find instead)"
	"postgresql|/usr/lib/postgresql/*/bin/initdb|the PostgreSQL store and cluster tests, unless PAGECHAT_POSTGRES_DSN names a running server (internal/testutil/pgtest)"
)

started=$SECONDS
results=() # one "name status time[: detail]" per step
skips=()   # loud lines for the end: everything that did not run
failed=()  # names of the steps that failed
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

duration() { # duration SECONDS: 75 -> 1m15s
	if [ "$1" -ge 60 ]; then echo "$(($1 / 60))m$(($1 % 60))s"; else echo "$1s"; fi
}

have_any() { # have_any CMD...: true if one of the commands exists
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 && return 0
	done
	return 1
}

# step NAME FUNCTION: runs FUNCTION, which may set $detail (shown after the
# result) or return 2 to say it skipped, and records the outcome.
step() {
	local name=$1 fn=$2 t0=$SECONDS status
	[ ${#results[@]} -gt 0 ] && echo
	echo "== $name"
	detail=
	"$fn"
	case $? in
	0) status=ok ;;
	2) status=SKIPPED ;;
	*) status=FAILED && failed+=("$name") ;;
	esac
	results+=("$name $status $(duration $((SECONDS - t0)))${detail:+: $detail}")
}

install_packages() {
	local entry pkg cmds without missing=() why=
	for entry in "${debian_packages[@]}"; do
		IFS='|' read -r pkg cmds without <<<"$entry"
		# shellcheck disable=SC2086 # cmds is a list of words
		have_any $cmds || missing+=("$pkg")
	done
	detail="all there"
	if [ ${#missing[@]} -eq 0 ]; then
		echo "all there: ${debian_packages[*]%%|*}"
		return 0
	fi
	detail="installed ${missing[*]}"
	if [ -n "${PAGECHAT_NO_INSTALL:-}" ]; then
		why="PAGECHAT_NO_INSTALL is set"
	elif [ "$(id -u)" -ne 0 ]; then
		why="not running as root"
	elif ! command -v apt-get >/dev/null; then
		why="apt-get is not available"
	else
		echo "installing ${missing[*]} with apt-get"
		if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$tmp/apt.log" 2>&1; }; then
			cat "$tmp/apt.log"
			why="apt-get failed"
		fi
	fi
	[ -n "$why" ] && echo "cannot install ${missing[*]}: $why"
	missing=()
	for entry in "${debian_packages[@]}"; do
		IFS='|' read -r pkg cmds without <<<"$entry"
		cmds=${cmds# }
		# shellcheck disable=SC2086
		have_any $cmds && continue
		skips+=("SKIPPED: $without: Debian's $pkg is missing (${why:-apt-get ran, yet none of $cmds is on PATH}); install it with: apt-get install $pkg")
		echo "${skips[-1]}"
		missing+=("$pkg")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		detail="missing ${missing[*]}"
		return 2
	fi
}

run_tools() { bash scripts/tools.sh; }

run_gofmt() {
	local files unformatted
	files=$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.bin/*')
	# shellcheck disable=SC2086
	unformatted=$(gofmt -l $files) || return 1
	if [ -n "$unformatted" ]; then
		echo "gofmt needed on:"
		echo "$unformatted"
		return 1
	fi
}

run_vet() { go vet ./...; }

run_staticcheck() { .bin/staticcheck ./...; }

run_generated() { bash scripts/check-generated.sh; }

run_tests() {
	local status
	go build -o .bin/testreport ./scripts/testreport || return 1
	go test -json -race -count=1 -timeout 20m ./... |
		.bin/testreport -trim "$(go list -m)/" -summary "$tmp/tests"
	status=("${PIPESTATUS[@]}")
	if [ -s "$tmp/tests" ]; then
		detail=$(head -1 "$tmp/tests")
		while IFS= read -r line; do skips+=("$line"); done < <(tail -n +2 "$tmp/tests")
	fi
	if [ "${status[0]}" -ne 0 ] && [ "${status[1]}" -eq 0 ]; then
		echo "go test exited with status ${status[0]}, though the report shows no failure"
	fi
	[ "${status[0]}" -eq 0 ] && [ "${status[1]}" -eq 0 ]
}

run_smoke() {
	if ! command -v curl >/dev/null; then
		skips+=("SKIPPED: the smoke test (scripts/smoke.sh): curl is not installed")
		echo "${skips[-1]}"
		return 2
	fi
	bash scripts/smoke.sh
}

# Each target runs briefly: enough to catch a regression on the seed corpus
# plus some mutation, short enough for every CI run. The budget is a count
# of executions, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" as a failure when the
# time runs out under CPU load (go.dev/issue/75804, fixed in Go 1.27).
run_fuzz() {
	local budget=${FUZZ_BUDGET:-10000x} targets target n=0 bad=()
	targets=$(go run ./scripts/fuzztargets) || return 1
	for target in $targets; do
		echo "-- ${target%%:*} ${target##*:}"
		n=$((n + 1))
		go test -run '^$' -fuzz "^${target##*:}\$" -fuzztime "$budget" "${target%%:*}" || bad+=("$target")
	done
	detail="$n targets, $budget each"
	if [ ${#bad[@]} -gt 0 ]; then
		detail+=", failed: ${bad[*]}"
		return 1
	fi
}

step "Debian packages" install_packages
step tools run_tools
step gofmt run_gofmt
step vet run_vet
step staticcheck run_staticcheck
step "generated code" run_generated
step tests run_tests
step smoke run_smoke
step fuzz run_fuzz

echo
echo "== summary"
for line in "${skips[@]}"; do
	echo "$line"
done
verdict=PASSED
[ ${#failed[@]} -gt 0 ] && verdict="FAILED (${failed[*]})"
[ ${#skips[@]} -gt 0 ] && verdict+=", WITH SKIPS (listed above)"
summary="test.sh $verdict, in $(duration $((SECONDS - started)))"
for r in "${results[@]}"; do
	summary+=" | $r"
done
echo "$summary"
[ ${#failed[@]} -eq 0 ]
