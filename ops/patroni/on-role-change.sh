#!/bin/sh
# jeex-db: Patroni callback that points this host's PgBouncer at the new primary.
#
# Patroni runs it as `on-role-change.sh ACTION ROLE CLUSTER` (ops/patroni/patroni.yml registers
# it for on_role_change and on_start), e.g. `on-role-change.sh on_role_change primary jeex`.
# When ROLE is `primary` (Patroni 4; `master` from Patroni 3 is accepted too) it rewrites the
# host and port of every entry in the [databases] section of pgbouncer.ini to this node's
# PostgreSQL, then sends RELOAD on PgBouncer's admin console. PgBouncer closes its server
# connections to the old address as they are released and logs in to the new one for the next
# transaction; clients stay connected. Any other role (replica, demoted, ...) changes nothing:
# the node that becomes primary repoints its own PgBouncer.
#
# Why not a host list in [databases] (host=a,b,c)? PgBouncer 1.18 (Debian 12) uses a list
# round-robin for new server connections and never skips a dead host ("all hosts must be
# available at all times"), and no version checks which host is the primary: writes would go to
# a dead server or to a read-only standby. So the one address is rewritten when the primary
# changes. docs/ha.md, "Production: Patroni 4", has the whole runbook.
#
# Idempotent: a second run with the same target leaves the file untouched and reloads again.
# Safe when PgBouncer is down: the file is still rewritten (PgBouncer reads it when it starts),
# a log line says so, and the exit status is 0.
#
# Environment (set them in Patroni's systemd unit, e.g. EnvironmentFile=/etc/patroni/jeex.env;
# Patroni passes its environment to callbacks):
#   JEEX_PGBOUNCER_INI          pgbouncer.ini to rewrite (required), e.g. /etc/pgbouncer/pgbouncer.ini.
#                               It must be writable by Patroni's OS user (postgres); when its
#                               directory is writable too, the new file replaces the old one
#                               atomically (a rename), else it is rewritten in place.
#   JEEX_PGBOUNCER_TARGET_HOST  the host PgBouncer should reach this node's PostgreSQL at
#                               (required): the name its TLS certificate carries, since PgBouncer
#                               verifies it (server_tls_sslmode = verify-full).
#   JEEX_PGBOUNCER_TARGET_PORT  that server's port (default 5432).
#   JEEX_PGBOUNCER_CONSOLE      libpq connection string of the admin console, without a password
#                               (default: host=127.0.0.1 port=6432 dbname=pgbouncer user=jeex_pgbouncer
#                               sslmode=verify-full sslrootcert=/etc/pgbouncer/tls/ca.crt).
#   JEEX_PGBOUNCER_CONSOLE_PASSWORD_FILE  a file holding the console user's password, or
#   JEEX_PGBOUNCER_CONSOLE_PASSWORD       the password itself (given to psql as PGPASSWORD only);
#                               neither: psql's own ~/.pgpass / PGPASSFILE.
#   JEEX_PSQL                   the psql to use (default: psql on PATH; any version talks to PgBouncer).
#   JEEX_ON_ROLE_CHANGE_LOG     a file to append the log lines to as well (they always go to stderr).
#
# Exit status: 0 done or nothing to do (including PgBouncer down), 1 PgBouncer answered but
# failed to reload or still shows another address, 2 usage or configuration error.

set -u

action=${1:-}
role=${2:-}
cluster=${3:-}

log() {
  line="$(date -u '+%Y-%m-%dT%H:%M:%SZ') jeex-db on-role-change[$$] $action $role ${cluster:-?}: $*"
  printf '%s\n' "$line" >&2
  if [ -n "${JEEX_ON_ROLE_CHANGE_LOG:-}" ]; then
    printf '%s\n' "$line" >>"$JEEX_ON_ROLE_CHANGE_LOG" 2>/dev/null || true
  fi
}

if [ -z "$action" ] || [ -z "$role" ]; then
  log "usage: on-role-change.sh ACTION ROLE CLUSTER (as Patroni calls it)"
  exit 2
fi

case "$role" in
  primary | master) ;;
  *)
    log "nothing to do: this node is not the primary"
    exit 0
    ;;
esac

ini=${JEEX_PGBOUNCER_INI:-}
host=${JEEX_PGBOUNCER_TARGET_HOST:-}
port=${JEEX_PGBOUNCER_TARGET_PORT:-5432}
console=${JEEX_PGBOUNCER_CONSOLE:-host=127.0.0.1 port=6432 dbname=pgbouncer user=jeex_pgbouncer sslmode=verify-full sslrootcert=/etc/pgbouncer/tls/ca.crt}
psql=${JEEX_PSQL:-psql}

if [ -z "$ini" ] || [ -z "$host" ]; then
  log "set JEEX_PGBOUNCER_INI (the pgbouncer.ini to rewrite) and JEEX_PGBOUNCER_TARGET_HOST (this node's PostgreSQL host, as its certificate names it)"
  exit 2
fi
case "$host" in
  *[!A-Za-z0-9._:-]*)
    log "JEEX_PGBOUNCER_TARGET_HOST='$host' is not a host name or address"
    exit 2
    ;;
esac
case "$port" in
  '' | *[!0-9]*)
    log "JEEX_PGBOUNCER_TARGET_PORT='$port' is not a port number"
    exit 2
    ;;
esac
if [ ! -f "$ini" ] || [ ! -r "$ini" ]; then
  log "cannot read $ini (JEEX_PGBOUNCER_INI)"
  exit 2
fi
if ! grep -q '^[[:space:]]*\[databases\]' "$ini"; then
  log "$ini has no [databases] section"
  exit 2
fi

# The new file: in [databases], every entry's host= and port= take the new values (added when
# missing); comments, other keys of an entry and every other section stay as they are.
dir=$(dirname "$ini")
if [ -w "$dir" ]; then tmpdir=$dir; else tmpdir=${TMPDIR:-/tmp}; fi
tmp="$tmpdir/.$(basename "$ini").jeex-$$"
trap 'rm -f "$tmp"' EXIT
if ! awk -v host="$host" -v port="$port" '
  function setkey(entry, key, value,   pattern) {
    pattern = "(^|[[:space:]])" key "=[^[:space:]]*"
    if (match(entry, pattern)) {
      lead = substr(entry, RSTART, RLENGTH)
      sub(/[^[:space:]].*/, "", lead)
      return substr(entry, 1, RSTART - 1) lead key "=" value substr(entry, RSTART + RLENGTH)
    }
    return entry " " key "=" value
  }
  /^[[:space:]]*\[/ { section = $0; gsub(/[[:space:]\[\]]/, "", section) }
  section == "databases" && $0 !~ /^[[:space:]]*([;#]|\[|$)/ && index($0, "=") > 0 {
    eq = index($0, "=")
    name = substr($0, 1, eq)
    entry = substr($0, eq + 1)
    entry = setkey(entry, "host", host)
    entry = setkey(entry, "port", port)
    print name entry
    next
  }
  { print }
' "$ini" >"$tmp"; then
  log "could not write the new $ini (in $tmpdir)"
  exit 2
fi

if cmp -s "$tmp" "$ini"; then
  log "$ini already sends [databases] to $host:$port"
else
  if [ "$tmpdir" = "$dir" ]; then
    chmod "$(stat -c '%a' "$ini")" "$tmp" 2>/dev/null || true
    if ! mv -f "$tmp" "$ini"; then
      log "could not replace $ini"
      exit 2
    fi
  elif ! cat "$tmp" >"$ini"; then
    log "could not rewrite $ini"
    exit 2
  fi
  log "$ini: [databases] now sends to $host:$port"
fi

# RELOAD on the admin console (PgBouncer's TCP listener; the deployed ini has no Unix socket).
if [ -n "${JEEX_PGBOUNCER_CONSOLE_PASSWORD_FILE:-}" ]; then
  if ! PGPASSWORD=$(cat "$JEEX_PGBOUNCER_CONSOLE_PASSWORD_FILE"); then
    log "cannot read JEEX_PGBOUNCER_CONSOLE_PASSWORD_FILE=$JEEX_PGBOUNCER_CONSOLE_PASSWORD_FILE"
    exit 2
  fi
  export PGPASSWORD
elif [ -n "${JEEX_PGBOUNCER_CONSOLE_PASSWORD:-}" ]; then
  PGPASSWORD=$JEEX_PGBOUNCER_CONSOLE_PASSWORD
  export PGPASSWORD
fi
PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-3}
export PGCONNECT_TIMEOUT

if ! out=$("$psql" -X -q -At -c RELOAD "$console" 2>&1); then
  case "$out" in
    *"could not connect"* | *"Connection refused"* | *"No such file"* | *"timeout expired"* | *"could not translate host name"*)
      log "PgBouncer is not reachable ($(printf '%s' "$out" | head -n 1)); $ini is in place for its next start"
      exit 0
      ;;
  esac
  log "PgBouncer did not reload: $(printf '%s' "$out" | tr '\n' ' ')"
  exit 1
fi

# What PgBouncer uses now: every [databases] entry (SHOW DATABASES: name|host|port|...) other
# than its own console must name the new address.
if ! shown=$("$psql" -X -q -At -F '|' -c 'SHOW DATABASES' "$console" 2>&1); then
  log "PgBouncer reloaded, but SHOW DATABASES failed: $(printf '%s' "$shown" | tr '\n' ' ')"
  exit 1
fi
stale=$(printf '%s\n' "$shown" | awk -F '|' -v host="$host" -v port="$port" '$1 != "pgbouncer" && $2 != "" && ($2 != host || $3 != port) { printf "%s->%s:%s ", $1, $2, $3 }')
if [ -n "$stale" ]; then
  log "PgBouncer reloaded but still shows $stale(is it running with another ini than $ini?)"
  exit 1
fi
log "PgBouncer reloaded: [databases] go to $host:$port"
exit 0
