#!/usr/bin/env bash
# The SQL contract of the extension as golden files: tests/regress/sql/NAME.sql is run by psql
# through Debian's pg_regress and its output compared, exactly, with tests/regress/expected/NAME.out.
#
#   scripts/regress.sh [--url URL | --host HOST --port PORT --user USER] [--outdir DIR] [TEST...]
#
# Runs against an already-running cluster where the extension is installed (`make install-dev`),
# given by --url, or SMT_TEST_DATABASE_URL (what `make test-e2e` sets), or --port / SMT_REGRESS_PORT
# (host 127.0.0.1, user postgres). The role must be a superuser: the suite drops and creates the
# database smt_regress and creates roles named regress_smt_*.
# TESTS: names (esiid, load, ...); all of tests/regress/sql/*.sql when none is given.
# Output goes to --outdir (default target/regress): results/NAME.out, regression.diffs.
# Exit status: 0 when every test matches; otherwise the diffs are printed and the status is non-zero.
#
# To accept a changed output after reading the diff: cp target/regress/results/NAME.out tests/regress/expected/
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
pg_regress=${PG_REGRESS:-/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress}
db=smt_regress

url=${SMT_TEST_DATABASE_URL:-}
host=127.0.0.1
port=${SMT_REGRESS_PORT:-}
user=postgres
outdir=${SMT_REGRESS_OUTDIR:-$root/target/regress}
tests=()

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
  exit "${1:-2}"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --url) url=${2:?--url needs a value}; port=; shift 2 ;;
    --url=*) url=${1#*=}; port=; shift ;;
    --host) host=${2:?--host needs a value}; shift 2 ;;
    --host=*) host=${1#*=}; shift ;;
    --port) port=${2:?--port needs a value}; url=; shift 2 ;;
    --port=*) port=${1#*=}; url=; shift ;;
    --user) user=${2:?--user needs a value}; shift 2 ;;
    --user=*) user=${1#*=}; shift ;;
    --outdir) outdir=${2:?--outdir needs a value}; shift 2 ;;
    --outdir=*) outdir=${1#*=}; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "regress.sh: unknown option $1" >&2; usage ;;
    *) tests+=("${1%.sql}"); shift ;;
  esac
done

# postgresql://[user[:password]@][host][:port][/dbname][?...]: pg_regress takes host, port and
# user separately.
if [ -n "$url" ]; then
  re='^postgres(ql)?://(([^:@/]*)(:([^@/]*))?@)?([^:/?]*)(:([0-9]+))?(/[^?]*)?(\?.*)?$'
  if [[ ! "$url" =~ $re ]]; then
    echo "regress.sh: cannot read the URL $url (expected postgresql://user@host:port/db)" >&2
    exit 2
  fi
  [ -n "${BASH_REMATCH[3]}" ] && user=${BASH_REMATCH[3]}
  [ -n "${BASH_REMATCH[5]}" ] && export PGPASSWORD=${BASH_REMATCH[5]}
  [ -n "${BASH_REMATCH[6]}" ] && host=${BASH_REMATCH[6]}
  port=${BASH_REMATCH[8]:-5432}
fi
if [ -z "$port" ]; then
  echo "regress.sh: no cluster given: pass --url, --port, or set SMT_TEST_DATABASE_URL" >&2
  usage
fi

if [ ${#tests[@]} -eq 0 ]; then
  for f in "$root"/tests/regress/sql/*.sql; do
    tests+=("$(basename "$f" .sql)")
  done
fi
for t in "${tests[@]}"; do
  if [ ! -f "$root/tests/regress/sql/$t.sql" ]; then
    echo "regress.sh: no test tests/regress/sql/$t.sql" >&2
    exit 2
  fi
done

# Settings that would otherwise come from the environment or the server's defaults. pg_regress
# sets PGTZ and PGDATESTYLE itself (the tests set TimeZone and DateStyle again); the rest is
# fixed here so the output does not depend on who runs it.
unset PGDATABASE PGOPTIONS PGSERVICE PGTZ PGDATESTYLE PGCLIENTENCODING
export PGAPPNAME=smt_regress LC_ALL=C

psql_admin() {
  "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" -d postgres "$@"
}

if ! psql_admin -Atc "SELECT 1" >/dev/null; then
  echo "regress.sh: cannot connect to $user@$host:$port (is the cluster running?)" >&2
  exit 2
fi
if [ "$(psql_admin -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'smt'")" != 1 ]; then
  echo "regress.sh: the extension smt is not installed in this PostgreSQL (make install-dev)" >&2
  exit 2
fi

# With --use-existing pg_regress neither drops nor creates the database (nor sets its locale
# settings), so a clean one is made here for every run. Roles are cluster-wide: those a failed run
# left behind go too (the database that held their privileges is gone, so nothing holds them).
psql_admin <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS $db WITH (FORCE);
CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
ALTER DATABASE $db SET lc_messages TO 'C';
ALTER DATABASE $db SET lc_monetary TO 'C';
ALTER DATABASE $db SET lc_numeric TO 'C';
ALTER DATABASE $db SET lc_time TO 'C';
ALTER DATABASE $db SET bytea_output TO 'hex';
ALTER DATABASE $db SET timezone_abbreviations TO 'Default';
ALTER DATABASE $db SET extra_float_digits TO 0;
DO \$\$
DECLARE
    r name;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_smt\_%' ORDER BY 1 LOOP
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END
\$\$;
SQL

rm -rf "$outdir"
mkdir -p "$outdir"

status=0
"$pg_regress" \
  --use-existing \
  --bindir="$pg_bin" \
  --host="$host" --port="$port" --user="$user" \
  --dbname="$db" \
  --inputdir="$root/tests/regress" \
  --outputdir="$outdir" \
  "${tests[@]}" || status=$?

if [ "$status" -ne 0 ]; then
  if [ -s "$outdir/regression.diffs" ]; then
    echo
    echo "==== $outdir/regression.diffs ===="
    cat "$outdir/regression.diffs"
  fi
  echo "regress.sh: the SQL regression suite failed (pg_regress status $status); outputs in $outdir/results" >&2
  exit "$status"
fi
