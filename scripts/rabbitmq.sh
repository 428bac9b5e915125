#!/usr/bin/env bash
# RabbitMQ for development, tests and CI: make sure the test broker answers,
# and start/stop throwaway nodes on other ports. Run with --help for usage.
set -euo pipefail

PROG=${0##*/}
TEST_URL=${SERVICEBUS_TEST_URL:-amqp://guest:guest@127.0.0.1:5672/}
NODES_DIR=${SERVICEBUS_RABBIT_DIR:-/tmp/servicebus-rabbit}
WAIT_SECS=${SERVICEBUS_RABBIT_WAIT:-90}
RABBIT_USER=rabbitmq
RABBIT_HOME=/var/lib/rabbitmq

usage() {
	cat <<EOF
Usage: $PROG COMMAND [ARGS]

Commands:
  ensure                 Make sure a broker answers AMQP at SERVICEBUS_TEST_URL
                         (default amqp://guest:guest@127.0.0.1:5672/). If none
                         does, start the local rabbitmq-server; if it is not
                         installed and we are root, install it with apt-get.
                         Otherwise exit 1 saying what to do.
  start NAME PORT [DIST] Start a throwaway node NAME@localhost listening on
                         127.0.0.1:PORT (Erlang distribution on DIST, default
                         PORT+20000) with its data under $NODES_DIR/NAME.
                         Data is kept across stop/start (a restart keeps
                         durable queues). Waits until the node runs.
  stop NAME              Stop the node cleanly (data kept).
  kill NAME              Kill the node with SIGKILL (a crash; data kept).
  status NAME            Print running/stopped; exit 0 if running, 3 if not.
  purge NAME             Stop or kill the node if needed and delete its data.
  list                   List throwaway nodes and their state.
  probe HOST PORT        Exit 0 if HOST:PORT answers an AMQP 0-9-1 handshake.

Environment:
  SERVICEBUS_TEST_URL        broker for ensure
  SERVICEBUS_RABBIT_DIR      parent dir of throwaway nodes ($NODES_DIR)
  SERVICEBUS_RABBIT_WAIT     seconds to wait for a node to come up ($WAIT_SECS)
  SERVICEBUS_RABBITMQ_BIN    directory of rabbitmq-server and rabbitmqctl
                             (default /usr/lib/rabbitmq/bin, then PATH)
  SERVICEBUS_RABBIT_CONF_EXTRA  file appended to a started node's rabbitmq.conf
                             (e.g. a TLS listener: listeners.ssl.1 = 127.0.0.1:PORT,
                             ssl_options.cacertfile = ..., ssl_options.verify = verify_peer)

Throwaway nodes never touch the main node at 5672. Ports 25000-25999 are the
project's range for them. As root, nodes run as user $RABBIT_USER (runuser or
setpriv) and share its Erlang cookie, so rabbitmqctl reaches them.
EOF
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}
say() { echo "$PROG: $*" >&2; }

# ---------------------------------------------------------------------------
# AMQP probe

# amqp_probe HOST PORT: the broker answers the AMQP 0-9-1 protocol header with
# a frame of type 1 (connection.start); anything else is not a broker.
amqp_probe() {
	local host=$1 port=$2 first
	first=$(timeout 5 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 2
		printf "AMQP\000\000\011\001" >&3
		head -c 1 <&3 | od -An -tx1 | tr -d " \n"
	' "$host" "$port" 2>/dev/null) || return 1
	[ "$first" = "01" ]
}

# tcp_probe HOST PORT: something accepts TCP connections (for amqps URLs).
tcp_probe() {
	timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# parse_url URL: sets URL_SCHEME URL_HOST URL_PORT.
parse_url() {
	local url=$1 rest hostport
	case $url in
	amqp://*) URL_SCHEME=amqp URL_PORT=5672 rest=${url#amqp://} ;;
	amqps://*) URL_SCHEME=amqps URL_PORT=5671 rest=${url#amqps://} ;;
	*) die "SERVICEBUS_TEST_URL must start with amqp:// or amqps:// (got a URL with another scheme)" ;;
	esac
	hostport=${rest%%/*}
	hostport=${hostport%%\?*}
	hostport=${hostport##*@} # drop user:password@
	if [[ $hostport =~ ^\[([^]]+)\](:([0-9]+))?$ ]]; then
		URL_HOST=${BASH_REMATCH[1]}
		[ -z "${BASH_REMATCH[3]}" ] || URL_PORT=${BASH_REMATCH[3]}
	elif [[ $hostport =~ ^([^:]+)(:([0-9]+))?$ ]]; then
		URL_HOST=${BASH_REMATCH[1]}
		[ -z "${BASH_REMATCH[3]}" ] || URL_PORT=${BASH_REMATCH[3]}
	else
		die "cannot read host and port from SERVICEBUS_TEST_URL"
	fi
	[ -n "$URL_HOST" ] || URL_HOST=127.0.0.1
}

broker_answers() {
	if [ "$URL_SCHEME" = amqps ]; then
		tcp_probe "$URL_HOST" "$URL_PORT"
	else
		amqp_probe "$URL_HOST" "$URL_PORT"
	fi
}

# wait_broker SECONDS: poll until the broker answers or the time is up.
wait_broker() {
	local deadline=$((SECONDS + $1))
	while [ $SECONDS -lt $deadline ]; do
		if broker_answers; then
			return 0
		fi
		sleep 1
	done
	return 1
}

is_loopback() {
	case $1 in
	127.* | localhost | ::1) return 0 ;;
	esac
	return 1
}

# ---------------------------------------------------------------------------
# Running RabbitMQ commands as the right user

is_root() { [ "$(id -u)" = 0 ]; }
is_rabbit_user() { [ "$(id -un)" = "$RABBIT_USER" ]; }

# rabbit_bin NAME: the script from SERVICEBUS_RABBITMQ_BIN (as internal/brokertest),
# else the real one (not Debian's wrapper, which redirects output and runs su
# itself), else the one on PATH.
rabbit_bin() {
	if [ -n "${SERVICEBUS_RABBITMQ_BIN:-}" ] && [ -x "$SERVICEBUS_RABBITMQ_BIN/$1" ]; then
		echo "$SERVICEBUS_RABBITMQ_BIN/$1"
	elif [ -x "/usr/lib/rabbitmq/bin/$1" ]; then
		echo "/usr/lib/rabbitmq/bin/$1"
	elif command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	else
		return 1
	fi
}

# as_rabbit CMD...: run CMD as the RabbitMQ user when we are root, so that
# files belong to it and its Erlang cookie is shared; as ourselves otherwise.
as_rabbit() {
	if is_root && id "$RABBIT_USER" >/dev/null 2>&1; then
		if command -v runuser >/dev/null 2>&1; then
			runuser -u "$RABBIT_USER" -- env HOME="$RABBIT_HOME" "$@"
		elif command -v setpriv >/dev/null 2>&1; then
			setpriv --reuid="$RABBIT_USER" --regid="$RABBIT_USER" --init-groups \
				env HOME="$RABBIT_HOME" "$@"
		else
			local cmd="" a
			for a in "$@"; do cmd="$cmd $(printf '%q' "$a")"; done
			su "$RABBIT_USER" -s /bin/sh -c "HOME=$RABBIT_HOME exec $cmd"
		fi
	elif is_rabbit_user; then
		env HOME="$RABBIT_HOME" "$@"
	else
		"$@"
	fi
}

# ---------------------------------------------------------------------------
# ensure

install_rabbitmq() {
	say "rabbitmq-server is not installed; installing it with apt-get (running as root)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q rabbitmq-server
	# Listen on loopback only, as the project's tests assume; keep any config
	# the package or the admin wrote.
	if [ ! -e /etc/rabbitmq/rabbitmq.conf ]; then
		mkdir -p /etc/rabbitmq
		echo "listeners.tcp.local = 127.0.0.1:5672" >/etc/rabbitmq/rabbitmq.conf
	fi
}

start_system_node() {
	local server
	server=$(command -v rabbitmq-server 2>/dev/null || true)
	[ -n "$server" ] || server=$(rabbit_bin rabbitmq-server) || return 1
	say "starting the local RabbitMQ node ($server -detached)"
	if is_root || is_rabbit_user; then
		# Debian's wrapper switches to the rabbitmq user itself.
		(cd / && "$server" -detached) || return 1
	else
		"$server" -detached || return 1
	fi
}

show_log_tail() {
	local f
	for f in /var/log/rabbitmq/*.log /var/log/rabbitmq/startup_err; do
		[ -s "$f" ] || continue
		say "last lines of $f:"
		tail -n 20 "$f" >&2 || true
	done
}

cmd_ensure() {
	parse_url "$TEST_URL"
	if broker_answers; then
		say "broker at $URL_HOST:$URL_PORT answers ($URL_SCHEME)"
		return 0
	fi
	say "no broker answers at $URL_HOST:$URL_PORT"
	if ! is_loopback "$URL_HOST"; then
		die "SERVICEBUS_TEST_URL points at $URL_HOST, which is not this machine: start that broker, or unset SERVICEBUS_TEST_URL to use a local one"
	fi
	if [ "$URL_SCHEME" = amqps ]; then
		die "SERVICEBUS_TEST_URL is amqps://; this script starts plain brokers only: start a TLS broker at $URL_HOST:$URL_PORT yourself"
	fi
	if ! rabbit_bin rabbitmq-server >/dev/null; then
		if is_root && command -v apt-get >/dev/null 2>&1; then
			install_rabbitmq
		else
			die "RabbitMQ is not installed. Install it (Debian/Ubuntu: sudo apt-get install -y rabbitmq-server), start it (sudo rabbitmq-server -detached), or set SERVICEBUS_TEST_URL to a running broker"
		fi
	fi
	if [ "$URL_PORT" != 5672 ]; then
		# The system node listens on 5672; any other port gets a node of its own.
		cmd_start "servicebus-test-$URL_PORT" "$URL_PORT"
	elif ! is_root && ! is_rabbit_user && [ -x /usr/lib/rabbitmq/bin/rabbitmq-script-wrapper ]; then
		die "RabbitMQ is installed but not running, and only root or $RABBIT_USER may start it: run 'sudo rabbitmq-server -detached' (or set SERVICEBUS_TEST_URL to a running broker)"
	else
		# The package's post-install may have started it meanwhile.
		if ! wait_broker 2; then
			start_system_node || true
		fi
	fi
	if wait_broker "$WAIT_SECS"; then
		say "broker at $URL_HOST:$URL_PORT is up"
		return 0
	fi
	show_log_tail
	die "started RabbitMQ but nothing answers AMQP at $URL_HOST:$URL_PORT after ${WAIT_SECS}s; see the log above"
}

# ---------------------------------------------------------------------------
# Throwaway nodes

check_name() {
	[[ ${1:-} =~ ^[A-Za-z0-9_-]+$ ]] || die "node name must be letters, digits, - or _ (got '${1:-}')"
}

check_port() {
	[[ ${2:-} =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] && [ "$2" -le 65535 ] || die "$1 must be a TCP port (got '${2:-}')"
}

# node_vars NAME: checks NAME, then sets NODE, NODE_DIR, PID_FILE and
# NODE_ENV, the variables that make a node of its own.
node_vars() {
	check_name "${1:-}"
	local name=$1 dir=$NODES_DIR/$1
	NODE=$name@localhost
	NODE_DIR=$dir
	PID_FILE=$dir/pid
	NODE_ENV=(
		RABBITMQ_NODENAME="$NODE"
		RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
		RABBITMQ_MNESIA_BASE="$dir/mnesia"
		RABBITMQ_LOG_BASE="$dir/log"
		RABBITMQ_PID_FILE="$PID_FILE"
		RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
		RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
		RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
		ERL_EPMD_ADDRESS=127.0.0.1
	)
}

ctl() { # ctl NAME ARGS...: rabbitmqctl against the node
	local bin
	bin=$(rabbit_bin rabbitmqctl) || die "rabbitmqctl not found: install rabbitmq-server"
	node_vars "$1"
	shift
	as_rabbit env "${NODE_ENV[@]}" "$bin" -n "$NODE" "$@"
}

node_pid() {
	[ -s "$PID_FILE" ] || return 1
	local pid
	pid=$(tr -dc 0-9 <"$PID_FILE")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# running_pid: node_pid, or false having said that the node is not running.
running_pid() {
	node_pid || {
		say "node $NODE is not running"
		return 1
	}
}

cmd_start() {
	local name=${1:-} port=${2:-} dist=${3:-}
	check_name "$name"
	check_port PORT "$port"
	[ "$port" != 5672 ] || die "port 5672 is the main broker's; pick another (25000-25999)"
	[ -n "$dist" ] || dist=$((port + 20000))
	check_port DIST "$dist"
	local server
	server=$(rabbit_bin rabbitmq-server) || die "rabbitmq-server not found: install it (apt-get install -y rabbitmq-server)"
	node_vars "$name"
	if node_pid >/dev/null; then
		say "node $NODE already runs (pid $(node_pid))"
		return 0
	fi
	if amqp_probe 127.0.0.1 "$port" || tcp_probe 127.0.0.1 "$port"; then
		die "port $port is taken by another process"
	fi
	mkdir -p "$NODE_DIR/mnesia" "$NODE_DIR/log"
	{
		echo "# written by $PROG start $name $port"
		echo "listeners.tcp.1 = 127.0.0.1:$port"
		echo "loopback_users.guest = true"
		echo "log.file.level = info"
		if [ -n "${SERVICEBUS_RABBIT_CONF_EXTRA:-}" ]; then
			echo "# from $SERVICEBUS_RABBIT_CONF_EXTRA"
			cat "$SERVICEBUS_RABBIT_CONF_EXTRA"
		fi
	} >"$NODE_DIR/rabbitmq.conf"
	echo "[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}]." >"$NODE_DIR/advanced.config"
	echo "[]." >"$NODE_DIR/enabled_plugins"
	rm -f "$PID_FILE"
	if is_root && id "$RABBIT_USER" >/dev/null 2>&1; then
		chown -R "$RABBIT_USER:" "$NODE_DIR"
		chmod 755 "$NODES_DIR" 2>/dev/null || true
	fi
	say "starting $NODE on 127.0.0.1:$port (dist $dist, data $NODE_DIR)"
	(cd "$NODE_DIR" && as_rabbit env "${NODE_ENV[@]}" RABBITMQ_DIST_PORT="$dist" \
		"$server" -detached) >"$NODE_DIR/start.out" 2>&1 || {
		cat "$NODE_DIR/start.out" >&2
		die "rabbitmq-server -detached failed for $NODE"
	}
	if ! ctl "$name" wait --timeout "$WAIT_SECS" "$PID_FILE" >"$NODE_DIR/wait.out" 2>&1; then
		cat "$NODE_DIR/wait.out" >&2
		tail -n 30 "$NODE_DIR/log/$NODE.log" >&2 2>/dev/null || true
		die "node $NODE did not come up within ${WAIT_SECS}s"
	fi
	local deadline=$((SECONDS + WAIT_SECS))
	until amqp_probe 127.0.0.1 "$port"; do
		[ $SECONDS -lt $deadline ] || die "node $NODE runs but does not answer AMQP on port $port"
		sleep 0.2
	done
	say "node $NODE is up on 127.0.0.1:$port (pid $(node_pid))"
}

cmd_stop() {
	local name=${1:-}
	node_vars "$name"
	local pid
	pid=$(running_pid) || return 0
	if ! ctl "$name" stop "$PID_FILE" >/dev/null 2>&1; then
		say "rabbitmqctl stop failed; sending SIGTERM to $pid"
		kill "$pid" 2>/dev/null || true
	fi
	local deadline=$((SECONDS + 30))
	while kill -0 "$pid" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || die "node $NODE (pid $pid) did not stop within 30s"
		sleep 0.2
	done
	say "node $NODE stopped"
}

cmd_kill() {
	node_vars "${1:-}"
	local pid
	pid=$(running_pid) || return 0
	kill -9 "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	say "node $NODE killed (pid $pid)"
}

cmd_status() {
	local name=${1:-}
	node_vars "$name"
	local pid
	if pid=$(node_pid); then
		echo "$NODE running (pid $pid)"
		return 0
	fi
	echo "$NODE stopped"
	return 3
}

cmd_purge() {
	local name=${1:-}
	node_vars "$name"
	if node_pid >/dev/null; then
		cmd_stop "$name" || cmd_kill "$name"
	fi
	rm -rf -- "${NODES_DIR:?}/$name"
	say "node $NODE purged"
}

cmd_list() {
	local d
	[ -d "$NODES_DIR" ] || return 0
	for d in "$NODES_DIR"/*/; do
		[ -d "$d" ] || continue
		d=${d%/}
		cmd_status "${d##*/}" || true
	done
}

main() {
	local cmd=${1:-}
	[ $# -eq 0 ] || shift
	case $cmd in
	ensure) cmd_ensure "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	kill) cmd_kill "$@" ;;
	status) cmd_status "$@" ;;
	purge) cmd_purge "$@" ;;
	list) cmd_list "$@" ;;
	probe)
		[ $# -eq 2 ] || die "usage: $PROG probe HOST PORT"
		amqp_probe "$1" "$2"
		;;
	-h | --help | help) usage ;;
	"") usage >&2; exit 2 ;;
	*) say "unknown command '$cmd'"; usage >&2; exit 2 ;;
	esac
}

main "$@"
