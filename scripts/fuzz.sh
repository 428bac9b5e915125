#!/usr/bin/env bash
# Run every native Go fuzz target (func FuzzXxx) of the given packages for
# FUZZTIME each, one after another. New fuzzers are found by `go test -list`.
# Usage: FUZZTIME=30s scripts/fuzz.sh [PACKAGES...]   (default ./...)
set -euo pipefail

if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
	sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
fi

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
[ $# -gt 0 ] || set -- ./...

ran=0
failed=()
for pkg in $("$GO" list "$@"); do
	targets=$("$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for target in $targets; do
		echo "== $pkg $target ($FUZZTIME)"
		ran=$((ran + 1))
		if ! "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"; then
			failed+=("$pkg $target")
		fi
	done
done

echo "== $ran fuzz targets run for $FUZZTIME each"
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED (crashers are saved under the package's testdata/fuzz/):"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
