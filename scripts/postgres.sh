#!/usr/bin/env bash
# Sourced by scripts/test.sh: makes sure a local PostgreSQL runs and exports
# GATEHOUSE_TEST_POSTGRES, a postgres:// URL of a role that may create databases (each store
# test creates and drops its own). Keeps a value already set (a developer's own server).
if [ -z "${GATEHOUSE_TEST_POSTGRES:-}" ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  fi
  pgver=$(ls /usr/lib/postgresql | sort -V | tail -1)
  if ! pg_lsclusters -h 2>/dev/null | awk -v v="$pgver" '$1==v && $2=="main"' | grep -q .; then
    $SUDO pg_createcluster "$pgver" main >/dev/null
  fi
  $SUDO pg_ctlcluster "$pgver" main start 2>/dev/null || true
  pgport=$(pg_lsclusters -h | awk -v v="$pgver" '$1==v && $2=="main" {print $3}')
  for _ in $(seq 1 30); do
    $SUDO runuser -u postgres -- pg_isready -q -p "$pgport" && break
    sleep 1
  done
  $SUDO runuser -u postgres -- psql -q -p "$pgport" -v ON_ERROR_STOP=1 -c "DO \$\$BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gatehouse_test') THEN
      CREATE ROLE gatehouse_test LOGIN CREATEDB PASSWORD 'gatehouse_test';
    END IF; END\$\$;" >/dev/null
  export GATEHOUSE_TEST_POSTGRES="postgres://gatehouse_test:gatehouse_test@127.0.0.1:${pgport}/postgres?sslmode=disable"
fi
# The fault tests start a PostgreSQL of their own from these binaries (initdb, pg_ctl).
if [ -z "${GATEHOUSE_TEST_PG_BIN:-}" ]; then
  pgver=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)
  [ -n "$pgver" ] && export GATEHOUSE_TEST_PG_BIN="/usr/lib/postgresql/$pgver/bin"
fi
