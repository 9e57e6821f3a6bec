#!/usr/bin/env bash
# Released SQL scripts are frozen. extension/sql/ holds the install script of every released
# version (smt--X.sql, as pgrx generated it then) and every upgrade script (smt--A--B.sql);
# extension/sql/SHA256SUMS pins each one (the upgrade script to the version in the making is
# pinned when that version is released, by `freeze`).
#
#   scripts/released.sh check     fail if a released file changed, a file is not pinned, or the
#                                 install script pgrx generates now for a released version
#                                 differs from the frozen one (the SQL changed without a new
#                                 version and an upgrade script)
#   scripts/released.sh install   copy the released scripts pgrx does not install itself (the
#                                 install scripts of older versions) into PostgreSQL's extension
#                                 directory, so `CREATE EXTENSION smt VERSION 'X'` and
#                                 `ALTER EXTENSION smt UPDATE` work from every released version
#   scripts/released.sh freeze    record the generated install script of the current version
#                                 as released and pin every file (run once, when releasing)
set -euo pipefail
cd "$(dirname "$0")/.."

PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
EXTDIR="$("$PG_CONFIG" --sharedir)/extension"
RELEASED=extension/sql
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)

# The schema a script makes, without its comments (pgrx writes source file:line comments that
# move with every Rust edit, and comments are not schema), as its sorted "connected objects"
# blocks: pgrx orders the blocks by a dependency graph whose order is not stable from run to run.
schema_of() {
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
lines = [l.rstrip() for l in text.splitlines() if l.strip() and not l.lstrip().startswith("--")]
blocks = "\n".join(lines).split("/* <begin connected objects> */")
print("\n/* ---- */\n".join(sorted(b.strip() for b in blocks if b.strip())))
PY
}

generated_current() {
  local out
  out=$(mktemp)
  (cd extension && cargo pgrx schema pg15 --pg-config "$PG_CONFIG" -o "$out" >/dev/null 2>&1) || {
    echo "released: cargo pgrx schema failed" >&2; rm -f "$out"; exit 1; }
  echo "$out"
}

case "${1:-check}" in
  check)
    (cd "$RELEASED" && sha256sum --quiet --strict -c SHA256SUMS) || {
      echo "released: a released SQL script changed. Released scripts are frozen: ship the change" \
           "as a new version with an smt--A--B.sql upgrade script instead." >&2; exit 1; }
    for f in "$RELEASED"/smt--*.sql; do
      # The upgrade script to the version in the making is pinned when that version is released.
      if [ ! -f "$RELEASED/smt--$VERSION.sql" ] && [[ "$(basename "$f")" == smt--*--"$VERSION".sql ]]; then
        continue
      fi
      grep -q " $(basename "$f")\$" "$RELEASED/SHA256SUMS" || {
        echo "released: $f is not pinned in $RELEASED/SHA256SUMS (scripts/released.sh freeze)" >&2; exit 1; }
    done
    if [ -f "$RELEASED/smt--$VERSION.sql" ]; then
      gen=$(generated_current)
      if ! diff -u <(schema_of "$RELEASED/smt--$VERSION.sql") <(schema_of "$gen") > "$gen.diff"; then
        cat "$gen.diff" >&2
        echo "released: the SQL of version $VERSION changed after its release (diff above)." \
             "Bump the version in Cargo.toml and add extension/sql/smt--$VERSION--NEW.sql." >&2
        rm -f "$gen" "$gen.diff"; exit 1
      fi
      rm -f "$gen" "$gen.diff"
      echo "released: $VERSION's install script is as frozen; every released script is unchanged"
    else
      echo "released: every released script is unchanged ($VERSION is not released yet)"
    fi
    ;;
  install)
    for f in "$RELEASED"/smt--*.sql; do
      case "$(basename "$f")" in
        "smt--$VERSION.sql") ;; # pgrx installs the current version's script itself
        *) install -m 644 "$f" "$EXTDIR/" ;;
      esac
    done
    ;;
  freeze)
    gen=$(generated_current)
    if [ -f "$RELEASED/smt--$VERSION.sql" ]; then
      echo "released: $VERSION is already released; bump the version first" >&2; rm -f "$gen"; exit 1
    fi
    install -m 644 "$gen" "$RELEASED/smt--$VERSION.sql"
    rm -f "$gen"
    (cd "$RELEASED" && sha256sum smt--*.sql > SHA256SUMS)
    echo "released: froze smt--$VERSION.sql and pinned $(wc -l < "$RELEASED/SHA256SUMS") scripts"
    ;;
  *) echo "usage: $0 check|install|freeze" >&2; exit 2 ;;
esac
