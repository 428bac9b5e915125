#!/usr/bin/env bash
# Mutation testing of the core packages with gremlins v0.6.0 (fetched by
# go run from the module proxy): each one-line mutant of a package is run
# against that package's tests; a mutant that LIVED is a change no test
# notices. Run by hand, not in CI: hours for every package on 2 cores, as
# each mutant runs the package's tests (the broker tests need SERVICEBUS_TEST_URL).
# Usage: scripts/mutants.sh [PACKAGES...]   (default: the core packages)
# Results: one JSON file a package under MUTANTS_OUT (default .mutants/);
# docs/testing.md says what survived and why.
set -euo pipefail

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi

GO=${GO:-go}
GREMLINS=${GREMLINS:-github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0}
OUT=${MUTANTS_OUT:-.mutants}
WORKERS=${MUTANT_WORKERS:-1}
# A mutant's test run (compile included) may take this many times the
# unmutated run before it counts as TIMED OUT. gremlins' default (and 5)
# timed out most mutants of pkg/token on a loaded 2-core machine, where the
# compile alone takes longer than the cached unmutated run.
COEFF=${MUTANT_TIMEOUT_COEFFICIENT:-30}
# No cached test results: gremlins times the unmutated run to set each
# mutant's limit, and a cached run (0.6 s for internal/publish, whose tests
# take 50 s) makes every mutant "time out".
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1"
[ $# -gt 0 ] || set -- ./pkg/codec/ ./pkg/token/ ./pkg/broker/ ./internal/publish/ ./pkg/failover/ ./pkg/router/ ./pkg/rpc/

mkdir -p "$OUT"
status=0
for pkg in "$@"; do
	name=$(echo "${pkg#./}" | tr '/' '-' | sed 's/-$//')
	echo "== $(date -u +%T) $pkg"
	if ! "$GO" run "$GREMLINS" unleash --workers "$WORKERS" --timeout-coefficient "$COEFF" \
		--output-statuses lt --output "$OUT/$name.json" "$pkg"; then
		status=1
	fi
done
echo "== results in $OUT/ (LIVED: no test noticed the mutant)"
exit $status
