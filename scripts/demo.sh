#!/usr/bin/env bash
# The quick-start demo (make demo): make sure a broker runs, start the
# example agent examples/mathagent as node NODE-01, call NODE-01.math.add
# with [1,2] (prints 3), send it a message, ping it, then stop the agent with
# SIGTERM and check that it drained and exited cleanly. A last call shows
# what a caller is told when the agent is not running: the node's queue
# stays on the broker (durable, as every node queue), without a consumer.
#
# Exits non-zero on any failure; the agent is always stopped.
#
# Environment: SERVICEBUS_* as for every servicebus program (default broker
# 127.0.0.1:5672 guest/guest), DEMO_NODE (default NODE-01),
# SERVICEBUS_SECRET_TOKEN (default demo-secret).
set -euo pipefail

cd "$(dirname "$0")/.."

NODE=${DEMO_NODE:-NODE-01}
export SERVICEBUS_SECRET_TOKEN=${SERVICEBUS_SECRET_TOKEN:-demo-secret}
WAIT_AGENT=${DEMO_WAIT:-30}

say() { printf '\n== %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/servicebus-demo.XXXXXX")
agent_pid=""

stop_agent() {
	# SIGTERM, then wait (bounded) for the drain; SIGKILL only if it hangs.
	local pid=$agent_pid status=0
	agent_pid=""
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		echo "demo: the agent did not exit within 30s of SIGTERM; killed it" >&2
		return 1
	fi
	wait "$pid" || status=$?
	return "$status"
}

cleanup() {
	local rc=$?
	if [ -n "$agent_pid" ]; then
		stop_agent || true
	fi
	if [ "$rc" -ne 0 ] && [ -s "$work/agent.log" ]; then
		echo "--- agent log (last 20 lines) ---" >&2
		tail -n 20 "$work/agent.log" >&2
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "broker"
bash scripts/rabbitmq.sh ensure

say "build"
go build -o "$work/servicebus" ./cmd/servicebus
go build -o "$work/mathagent" ./examples/mathagent
sb="$work/servicebus"
echo "built servicebus and mathagent into $work"

say "start examples/mathagent as $NODE"
SERVICEBUS_NODE_NAME=$NODE "$work/mathagent" >"$work/agent.log" 2>&1 &
agent_pid=$!
echo "agent pid $agent_pid, log $work/agent.log"

# The agent answers once it consumes its queue: ping until it does (bounded).
deadline=$((SECONDS + WAIT_AGENT))
until "$sb" ping --timeout 1s "$NODE" >/dev/null 2>&1; do
	kill -0 "$agent_pid" 2>/dev/null || die "the agent exited before it answered a ping"
	[ "$SECONDS" -lt "$deadline" ] || die "the agent did not answer a ping within ${WAIT_AGENT}s"
	sleep 0.2
done
echo "$NODE answers"

say "servicebus call $NODE.math.add '[1,2]'"
result=$("$sb" call "$NODE.math.add" '[1,2]')
echo "$result"
[ "$result" = "3" ] || die "call printed '$result', want 3"

say "servicebus send $NODE.math.add '[3,4]'"
"$sb" send "$NODE.math.add" '[3,4]'
echo "confirmed by the broker"
# The message service logs the sum; give it a moment (bounded) before the stop.
for _ in $(seq 1 50); do
	grep -q 'sum=7' "$work/agent.log" && break
	sleep 0.2
done

say "servicebus ping $NODE"
"$sb" ping "$NODE"

say "stop the agent (SIGTERM)"
stop_agent || die "the agent did not exit cleanly"
echo "the agent drained and exited with status 0"
if grep -q 'sum=7' "$work/agent.log"; then
	echo "the message service logged: $(grep 'sum=7' "$work/agent.log" | tail -n 1)"
fi

say "servicebus call --timeout 2 $NODE.math.add '[1,2]' (the agent is stopped)"
if out=$("$sb" call --timeout 2 "$NODE.math.add" '[1,2]' 2>&1); then
	die "the call succeeded with the agent stopped: is another agent serving $NODE?"
fi
echo "$out"
case $out in
*"has no consumer"*) ;;
*) die "the timed-out call did not say that $NODE's queue has no consumer" ;;
esac
echo "the queue $NODE stays on the broker (durable: it keeps what is sent while its agent is down)."
echo "delete it with: rabbitmqctl delete_queue $NODE"

say "demo passed"
