#!/usr/bin/env bash
# scripts/services.sh starts the services tollgate's integration tests use:
# PostgreSQL (database "test") and two PgBouncers on loopback,
#
#   127.0.0.1:6432  session mode, max_client_conn=15 (reproduces the seed's
#                   "no more connections allowed (max_client_conn)")
#   127.0.0.1:6433  transaction mode, max_client_conn=500, default_pool_size=10
#
# It is idempotent: packages are installed only when absent, PostgreSQL is
# started only when it is not running, and a PgBouncer that already runs
# from this script's directory with the same config, and answers, is left
# alone (tests using it keep their connections). A PgBouncer this script
# started with another config is stopped (SIGINT to the pid in its pidfile,
# checked to be that pgbouncer) and started again. The script never stops a
# process it did not start: a port held by anything else is an error.
# Every decision is said on stderr.
#
# Run it as root on a Debian-like machine. Progress goes to stderr; stdout
# carries only the export lines, so that
#
#   eval "$(scripts/services.sh)"
#
# sets TOLLGATE_TEST_DATABASE_URL, TOLLGATE_TEST_PGBOUNCER_SESSION_URL and
# TOLLGATE_TEST_PGBOUNCER_TX_URL for `go test`.
#
# Environment: TOLLGATE_PGBOUNCER_DIR (config, logs, pidfiles; default
# /tmp/tollgate-pgbouncer), TOLLGATE_PGBOUNCER_SESSION_PORT (default 6432),
# TOLLGATE_PGBOUNCER_TX_PORT (default 6433), TOLLGATE_PG_PORT (the running
# or started cluster's port; default 5432). The first PostgreSQL cluster
# found by pg_lsclusters is used.
set -euo pipefail

DIR="${TOLLGATE_PGBOUNCER_DIR:-/tmp/tollgate-pgbouncer}"
PG_HOST=127.0.0.1
PG_PORT="${TOLLGATE_PG_PORT:-5432}"
DB=test
SESSION_PORT="${TOLLGATE_PGBOUNCER_SESSION_PORT:-6432}"
TX_PORT="${TOLLGATE_PGBOUNCER_TX_PORT:-6433}"
WAIT_SECONDS=30

log() { printf 'services: %s\n' "$*" >&2; }
die() {
	printf 'services: ERROR: %s\n' "$*" >&2
	exit 1
}

# wait_for DESCRIPTION COMMAND... polls COMMAND until it succeeds, at most
# WAIT_SECONDS.
wait_for() {
	local what=$1
	shift
	local deadline=$((SECONDS + WAIT_SECONDS))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			return 1
		fi
		sleep 0.2
	done
	log "$what is up"
}

as_postgres() { su postgres -s /bin/sh -c "$1"; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and starts services as user postgres)"

# --- packages -------------------------------------------------------------
need=()
command -v pg_ctlcluster >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 || need+=(postgresql)
command -v pgbouncer >/dev/null 2>&1 || [[ -x /usr/sbin/pgbouncer ]] || need+=(pgbouncer)
if ((${#need[@]})); then
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2 || die "apt-get update failed"
	apt-get install -y "${need[@]}" >&2 || die "apt-get install ${need[*]} failed"
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[[ -x $PGBOUNCER ]] || die "pgbouncer not found after install"
# The package's own service listens on 6432 with its default config. Stop
# it through its init script when it runs and that port is ours to use;
# never by pattern (pkill -f could hit anyone's process).
if [[ $SESSION_PORT == 6432 || $TX_PORT == 6432 ]] && [[ -f /var/run/postgresql/pgbouncer.pid ]] &&
	kill -0 "$(cat /var/run/postgresql/pgbouncer.pid 2>/dev/null)" 2>/dev/null; then
	log "stopping the distribution's pgbouncer service (it listens on 6432)"
	service pgbouncer stop >&2 2>&1 || log "could not stop the distribution's pgbouncer service: port 6432 may stay taken"
fi

# --- PostgreSQL -----------------------------------------------------------
read -r PGVER PGCLUSTER < <(pg_lsclusters -h 2>/dev/null | awk '{print $1, $2; exit}') ||
	die "no PostgreSQL cluster found (pg_lsclusters is empty)"
[[ -n ${PGVER:-} ]] || die "no PostgreSQL cluster found (pg_lsclusters is empty)"
if ! pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; then
	log "starting PostgreSQL $PGVER/$PGCLUSTER"
	pg_ctlcluster --skip-systemctl-redirect "$PGVER" "$PGCLUSTER" start >&2 ||
		die "pg_ctlcluster $PGVER $PGCLUSTER start failed (see /var/log/postgresql/)"
fi
wait_for "PostgreSQL on $PG_HOST:$PG_PORT" pg_isready -q -h "$PG_HOST" -p "$PG_PORT" ||
	die "PostgreSQL did not answer on $PG_HOST:$PG_PORT within ${WAIT_SECONDS}s"

psql_pg() { psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U postgres "$@"; }
if [[ $(psql_pg -d postgres -tAc "select 1 from pg_database where datname = '$DB'") != 1 ]]; then
	log "creating database $DB"
	psql_pg -d postgres -c "create database $DB" >&2 || die "cannot create database $DB"
fi
psql_pg -d "$DB" -tAc 'select 1' >/dev/null ||
	die "cannot connect to $DB as postgres over TCP (pg_hba.conf must trust 127.0.0.1 for the tests)"

# --- PgBouncer ------------------------------------------------------------
mkdir -p "$DIR"
chown postgres: "$DIR"
chmod 0700 "$DIR"

# our_pid NAME prints the pid of the pgbouncer this script started as NAME,
# when it still runs: the pid in its pidfile, checked to be a pgbouncer
# running our config file (a pid can be reused by another process).
our_pid() {
	local name=$1 pidfile="$DIR/$1.pid" pid
	[[ -f $pidfile ]] || return 1
	pid=$(cat "$pidfile" 2>/dev/null || true)
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "pgbouncer -d $DIR/$name.ini" || return 1
	echo "$pid"
}

stop_bouncer() {
	local name=$1 pid
	if pid=$(our_pid "$name"); then
		log "stopping pgbouncer $name (pid $pid), which this script started"
		kill -INT "$pid" 2>/dev/null || true # SIGINT: immediate shutdown
		local deadline=$((SECONDS + 10))
		while kill -0 "$pid" 2>/dev/null; do
			if ((SECONDS >= deadline)); then
				kill -KILL "$pid" 2>/dev/null || true
				break
			fi
			sleep 0.1
		done
	elif [[ -f $DIR/$name.pid ]]; then
		log "pgbouncer $name: stale pidfile (its process is gone or is not ours): removed"
	fi
	rm -f "$DIR/$name.pid"
}

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

write_config() {
	local name=$1 port=$2 mode=$3 max_client=$4 pool_size=$5 extra=""
	# PgBouncer >= 1.21 can track prepared statements in transaction mode;
	# turn that off so the tests see what a plain transaction pooler does.
	# 1.18 (Debian bookworm) has no such setting and never tracks them.
	if "$PGBOUNCER" --version 2>/dev/null | awk 'NR==1 { split($2, v, "."); exit !(v[1] > 1 || v[2] >= 21) }'; then
		extra="max_prepared_statements = 0"
	fi
	cat >"$DIR/$name.ini.new" <<EOF
; written by tollgate scripts/services.sh; rewritten on every run
[databases]
$DB = host=$PG_HOST port=$PG_PORT dbname=$DB
postgres = host=$PG_HOST port=$PG_PORT dbname=postgres
* = host=$PG_HOST port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $DIR
auth_type = trust
auth_file = $DIR/userlist.txt
admin_users = postgres
pool_mode = $mode
max_client_conn = $max_client
default_pool_size = $pool_size
min_pool_size = 0
reserve_pool_size = 0
$extra
server_reset_query = DISCARD ALL
ignore_startup_parameters = extra_float_digits,search_path,statement_timeout
logfile = $DIR/$name.log
pidfile = $DIR/$name.pid
EOF
	chown postgres: "$DIR/$name.ini.new"
}

[[ $(cat "$DIR/userlist.txt" 2>/dev/null) == '"postgres" ""' ]] || printf '"postgres" ""\n' >"$DIR/userlist.txt"
chown postgres: "$DIR/userlist.txt"
chmod 0600 "$DIR/userlist.txt"

answers() { psql -X -h 127.0.0.1 -p "$1" -U postgres -d "$DB" -tAc 'select 1' >/dev/null 2>&1; }

# ensure_bouncer NAME PORT leaves a running pgbouncer NAME alone when its
# config is unchanged and it answers on PORT; otherwise (re)starts it.
ensure_bouncer() {
	local name=$1 port=$2 pid
	if pid=$(our_pid "$name"); then
		if cmp -s "$DIR/$name.ini" "$DIR/$name.ini.new" && answers "$port"; then
			rm -f "$DIR/$name.ini.new"
			log "pgbouncer $name on 127.0.0.1:$port already runs with the same config (pid $pid): left alone"
			return 0
		fi
		if cmp -s "$DIR/$name.ini" "$DIR/$name.ini.new"; then
			log "pgbouncer $name (pid $pid) does not answer on 127.0.0.1:$port: restarting it"
		else
			log "pgbouncer $name (pid $pid) runs an older config: restarting it"
		fi
	fi
	stop_bouncer "$name"
	mv "$DIR/$name.ini.new" "$DIR/$name.ini"
	port_free "$port" || die "port $port is in use by a process this script did not start (left alone): $(ss -Hltnp "sport = :$port" | head -n1)"
	: >"$DIR/$name.log"
	chown postgres: "$DIR/$name.log"
	log "starting pgbouncer $name on 127.0.0.1:$port"
	as_postgres "'$PGBOUNCER' -d '$DIR/$name.ini'" >&2 ||
		die "pgbouncer $name failed to start; log: $DIR/$name.log: $(tail -n 5 "$DIR/$name.log" 2>/dev/null)"
	wait_for "pgbouncer $name on :$port" answers "$port" ||
		die "pgbouncer $name did not answer on 127.0.0.1:$port within ${WAIT_SECONDS}s; log: $DIR/$name.log: $(tail -n 5 "$DIR/$name.log" 2>/dev/null)"
}

write_config session "$SESSION_PORT" session 15 15
write_config tx "$TX_PORT" transaction 500 10
ensure_bouncer session "$SESSION_PORT"
ensure_bouncer tx "$TX_PORT"

echo "export TOLLGATE_TEST_DATABASE_URL=postgres://postgres@$PG_HOST:$PG_PORT/$DB?sslmode=disable"
echo "export TOLLGATE_TEST_PGBOUNCER_SESSION_URL=postgres://postgres@127.0.0.1:$SESSION_PORT/$DB?sslmode=disable"
echo "export TOLLGATE_TEST_PGBOUNCER_TX_URL=postgres://postgres@127.0.0.1:$TX_PORT/$DB?sslmode=disable"
