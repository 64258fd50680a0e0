# Real PostgreSQL from Debian's packages, in a temp dir on loopback (sourced by `up`).
# Password (SCRAM) authentication only over TLS, with a certificate from a self-signed CA.
# shellcheck shell=bash

pg_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# PgBouncer stands in for the connection pooler image (tests/support/pgbouncer.rs runs one per
# pooler pod); Debian's package installs it here.
PGBOUNCER=/usr/sbin/pgbouncer

ensure_postgres_installed() {
  pg_bindir >/dev/null && [ -x "$PGBOUNCER" ] && return 0
  log "installing PostgreSQL and PgBouncer from Debian's packages"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql pgbouncer >/dev/null
  pg_bindir >/dev/null || die "PostgreSQL server binaries not found after installing the package"
  [ -x "$PGBOUNCER" ] || die "PgBouncer not found at $PGBOUNCER after installing the package"
  # Where services start on install, the package's own daemon runs on :6432: not ours.
  if [ -x /etc/init.d/pgbouncer ]; then as_root /etc/init.d/pgbouncer stop >/dev/null 2>&1 || true; fi
}

# PostgreSQL refuses to run as root; when we are root it runs as the package's `postgres` user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
  ensure_postgres_installed
  local bin; bin="$(pg_bindir)"
  local dir="$W/postgres"
  mkdir -p "$dir"
  PG_PASSWORD="$(openssl rand -hex 16)"
  printf '%s\n' "$PG_PASSWORD" >"$dir/pwfile"
  # A self-signed CA and a server certificate it signs: clients verify the chain and the name
  # (webpki refuses a CA certificate presented as the server's own).
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pgr-test-postgres-ca" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n" >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 3650 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  chmod 600 "$dir/server.key"
  : >"$W/logs/postgres.log"
  if [ "$(id -u)" = 0 ]; then chown -R postgres: "$dir" "$W/logs/postgres.log"; chmod 755 "$W"; fi

  as_pg "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$W/logs/initdb.log" 2>&1 \
    || fail_with_log initdb "initdb failed"
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = '$dir/server.crt'
ssl_key_file = '$dir/server.key'
password_encryption = 'scram-sha-256'
fsync = off
CONF
  # TLS is the only way in over TCP, so every test exercises sslmode=require.
  cat >"$dir/data/pg_hba.conf" <<HBA
local   all all                scram-sha-256
hostssl all all 127.0.0.1/32   scram-sha-256
HBA
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$W/logs/postgres.log" -w -t 60 start >/dev/null \
    || fail_with_log postgres "PostgreSQL did not start"
  head -n 1 "$dir/data/postmaster.pid" >"$W/pids/postgres.pid"
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$PG_PORT"
}
