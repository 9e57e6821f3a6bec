# shellcheck shell=bash
# Helpers shared by the end-to-end benchmarks (scripts/bench-e2e.sh, scripts/bench-citus.sh);
# sourced, not run.

# bench_key DATA RECIPIENT: a throwaway OpenPGP key, as SMT's recipient key would be, in
# DATA/gnupg (GNUPGHOME) and armored in DATA/key.asc. It lives with the generated files (encrypted
# to it): a new key means new files, so the cache DATA is emptied first.
bench_key() {
  local data=$1 recipient=$2
  if [ -s "$data/key.asc" ] && [ -d "$data/gnupg" ]; then return; fi
  rm -rf "$data"
  mkdir -p "$data"
  mkdir -m 700 "$data/gnupg"
  GNUPGHOME="$data/gnupg" gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
      --quick-generate-key "$recipient" rsa2048 encrypt never
  GNUPGHOME="$data/gnupg" gpg --batch --quiet --armor --export-secret-keys "$recipient" > "$data/key.asc.tmp"
  mv "$data/key.asc.tmp" "$data/key.asc"
  GNUPGHOME="$data/gnupg" gpgconf --kill gpg-agent 2>/dev/null || true
}

# bench_env SCRIPT: the settings both benchmarks read from the environment (see their headers),
# with their defaults; SCRIPT names the run in the recorded command when SMT_BENCH_COMMAND is unset.
# shellcheck disable=SC2034  # the variables are read by the script that sources this
bench_env() {
  esiids=${SMT_BENCH_ESIIDS:-20000}
  records_per_file=${SMT_BENCH_FILE_RECORDS:-50000}
  out_md=$(realpath -m "${SMT_BENCH_OUT_MD:-$repo/BENCHMARKS.md}")
  out_json=$(realpath -m "${SMT_BENCH_OUT_JSON:-$repo/benchmarks.json}")
  tmp_root=${SMT_TMP:-/tmp/smt-$(id -u)}
  data=$(realpath -m "${SMT_BENCH_DATA:-$tmp_root/bench-data}")
  command=${SMT_BENCH_COMMAND:-"SMT_BENCH_ESIIDS=$esiids $1"}
}
