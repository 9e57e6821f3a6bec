#!/usr/bin/env bash
# make demo: the main job end to end on this machine. A local PostgreSQL 15 cluster under .demo/
# with the smt extension; the bundled SMT simulator (a real vsftpd with mutual TLS serving
# GnuPG-encrypted, zipped LSE and CSV deliveries); an `ftps_fetch` job in smt.job run by
# `smt run`; then the report. Then today's SMT: a real OpenSSH sshd as its SFTP site (an armored
# delivery of several reports, `sftp_fetch`) and the stand-in for its JSON API
# (tests/smt-api/sim.py): two meters enrolled from psql, one accepted (a year of history loaded),
# one declined, and an on-demand read of its register. Run it again: nothing is loaded twice.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PORT=${SMT_DEMO_PORT:-55432}
SMT_USER=${SMT_USER:-smt}

step() { printf '\n== %s\n' "$*"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

step "building smt and installing the extension into PostgreSQL 15"
cargo build --release -q -p smt
(cd extension && cargo pgrx install --release --pg-config /usr/lib/postgresql/15/bin/pg_config $( [ "$(id -u)" -eq 0 ] || echo --sudo ) >/dev/null)
bash scripts/released.sh install
smt=$root/target/release/smt

# The cluster runs as the unprivileged user, who must be able to reach its directory.
demo=$root/.demo
if [ "$(id -u)" -eq 0 ] && ! sudo -u "$SMT_USER" test -x "$root"; then
  demo=/tmp/smt-demo-$(id -u)
  echo "(the project directory is not reachable by user $SMT_USER; the demo lives in $demo)"
fi
mkdir -p "$demo/downloads"
chmod 755 "$demo"

step "PostgreSQL cluster $demo/pgdata on port $PORT, database smt_demo"
bash scripts/pg.sh start "$demo/pgdata" "$PORT"
url="postgresql://postgres@127.0.0.1:$PORT/smt_demo"
psql=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${psql[@]}" -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'smt_demo'" | grep -q 1 \
  || "${psql[@]}" -d postgres -c "CREATE DATABASE smt_demo"
# A demo database made by an older build of this unreleased version lacks newer objects: start it over.
# (The newest object of each unreleased version tells: smt.delivery_log in 0.2.0, smt.subscription in 0.4.0.)
if [ "$("${psql[@]}" -d smt_demo -tAc "SELECT (to_regclass('smt.delivery_log') IS NULL AND EXISTS (SELECT FROM pg_extension WHERE extname = 'smt' AND extversion = '0.2.0'))
                                            OR (to_regclass('smt.subscription') IS NULL AND EXISTS (SELECT FROM pg_extension WHERE extname = 'smt' AND extversion = '0.4.0'))")" = t ]; then
  "${psql[@]}" -d smt_demo -c "DROP EXTENSION smt CASCADE"
fi
# A demo database from an earlier release is upgraded in place, as a user's would be.
"${psql[@]}" -d smt_demo -c "CREATE EXTENSION IF NOT EXISTS smt" -c "ALTER EXTENSION smt UPDATE"

ftp_port=$(free_port)
step "SMT simulator: vsftpd with mutual TLS on 127.0.0.1:$ftp_port, GnuPG-encrypted zipped deliveries"
bash scripts/smt-simulator.sh start "$demo/sim" "$ftp_port" "$smt"
api_pid=
cleanup() {
  bash scripts/smt-simulator.sh stop "$demo/sim"
  bash tests/sftp/sshd.sh stop "$demo/sftp" 2>/dev/null || true
  [ -z "$api_pid" ] || kill "$api_pid" 2>/dev/null || true
}
trap cleanup EXIT

# The worker's configuration names the site (host, user, the variable holding the password, CA,
# client certificate and key); the job in smt.job only names the site.
cat > "$demo/smt.toml" <<TOML
database_url = "$url"
download_dir = "$demo/downloads"
[worker]
poll_seconds = 1
lease_seconds = 30
[pgp]
secret_key = "$demo/sim/rep-secret.asc"
[ftps.smt-ftps]
host = "127.0.0.1"
port = $ftp_port
user = "smtftp"
password_env = "SMT_FTPS_PASSWORD"
ca_file = "$demo/sim/ftps/ca.pem"
client_cert = "$demo/sim/ftps/client.pem"
client_key = "$demo/sim/ftps/client.key"
TOML

# A run of the demo before this one left today's-SMT jobs whose sites this config does not name
# yet: they wait until their part below enables them again.
"${psql[@]}" -d smt_demo -qc "UPDATE smt.job SET enabled = false WHERE name IN ('smt-sftp', 'smt-api')"
step "the job, as a DBA sees it (smt.job): fetch from SMT every morning at 07:00 Central"
params='{"source":"smt-ftps","dirs":["/reports"]}'
"${psql[@]}" -d smt_demo -c "INSERT INTO smt.job (name, schedule, kind, params)
                              VALUES ('smt-ftps', '0 7 * * *', 'ftps_fetch', '$params')
                              ON CONFLICT (name) DO UPDATE SET params = excluded.params, enabled = true"
"${psql[@]}" -d smt_demo -c "SELECT name, kind, schedule, time_zone, next_run_at FROM smt.job_status"
"$smt" jobs run-now smt-ftps --config "$demo/smt.toml"
"$smt" jobs --config "$demo/smt.toml"

step "smt run: fetch, decrypt, unzip, load (the password comes from the environment, never the database)"
SMT_FTPS_PASSWORD=$(cat "$demo/sim/ftps/password") "$smt" run --config "$demo/smt.toml" --exit-when-idle

step "smt status"
"$smt" status --config "$demo/smt.toml" --limit 5

step "daily usage (smt.daily_usage), first ESIIDs"
"${psql[@]}" -d smt_demo -c "SELECT esiid, day, import_kwh, export_kwh, net_kwh, intervals_present AS present,
                                    intervals_estimated AS estimated, intervals_missing AS missing
                               FROM smt.daily_usage ORDER BY esiid, day LIMIT 12"

step "days with missing intervals (smt.completeness)"
"${psql[@]}" -d smt_demo -c "SELECT esiid, channel, day, intervals_expected AS expected, intervals_present AS present
                               FROM smt.completeness ORDER BY esiid, day LIMIT 5"

step "today's SMT: SFTP site (OpenSSH sshd, host key checked) and the JSON API stand-in (HTTPS, JWT)"
sftp_port=$(free_port)
bash tests/sftp/sshd.sh start "$demo/sftp" "$sftp_port"
# SMT's delivery of today: ASCII-armored OpenPGP around a zip bundling several reports.
rm -rf "$demo/work" && mkdir -p "$demo/work"
"$smt" generate --format csv --seed 7 --esiids 4 --out "$demo/work/IntervalMeterUsage.CSV" 2>/dev/null
"$smt" generate --format lse --seed 8 --esiids 3 --out "$demo/work/IntervalData.lse" 2>/dev/null
(cd "$demo/work" && zip -q bundle.zip IntervalMeterUsage.CSV IntervalData.lse)
GNUPGHOME="$demo/sim/gnupg" gpg --batch --quiet --yes --trust-model always -r rep@smt-demo.test --armor \
  --encrypt -o "$demo/sftp/home/adhocusage/DailyMeterUsage20251201063015.CSV.999999999.asc" "$demo/work/bundle.zip"
chown -R "$SMT_USER" "$demo/sftp/home" 2>/dev/null || true
mkdir -p "$demo/api"
export SMT_API_PASSWORD=demo-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
rm -f "$demo/api/port"
python3 tests/smt-api/sim.py "$demo/api" --user DEMOSERVICE >"$demo/api/sim.log" 2>&1 &
api_pid=$!
for _ in $(seq 100); do [ -s "$demo/api/port" ] && break; sleep 0.1; done
api_port=$(cat "$demo/api/port")
cat >> "$demo/smt.toml" <<TOML
[sftp.smt-sftp]
host = "127.0.0.1"
port = $sftp_port
user = "$SMT_USER"
key_file = "$demo/sftp/client_key"
known_hosts = "$demo/sftp/known_hosts"
[smt_api.smt]
base_url = "https://127.0.0.1:$api_port"
service_id = "DEMOSERVICE"
requester_authentication_id = "999999999"
ca_file = "$demo/api/ca.pem"
reading_type = "A"
min_interval_ms = 200
agreement_poll_minutes = 0
odr_poll_seconds = 1
TOML
"${psql[@]}" -d smt_demo -c "INSERT INTO smt.job (name, schedule, kind, params) VALUES
    ('smt-sftp', '0 7 * * *', 'sftp_fetch', '{\"source\": \"smt-sftp\", \"dirs\": [\"$demo/sftp/home/adhocusage\"]}'),
    ('smt-api', '*/10 * * * *', 'smt_api', '{\"source\": \"smt\"}')
  ON CONFLICT (name) DO UPDATE SET params = excluded.params, enabled = true"

step "enroll two meters from psql (smt.enroll): SMT e-mails each customer an agreement"
"${psql[@]}" -d smt_demo -c "SELECT esiid, state FROM smt.enroll('10443720000000001', '111222333', 'customer@example.com')
                             UNION ALL
                             SELECT esiid, state FROM smt.enroll('1008901000000000000001', '444555666', 'reject-me@example.com')" \
  2>/dev/null || echo "(enrolled already: see smt.meter_status)"
run_worker() {
  "$smt" jobs run-now smt-sftp --config "$demo/smt.toml" >/dev/null
  "$smt" jobs run-now smt-api --config "$demo/smt.toml" >/dev/null
  "$smt" run --config "$demo/smt.toml" --exit-when-idle
}
run_worker
sleep 2   # the customers answer
step "the next run sees their answers; the accepted meter's year of history is requested and loaded"
run_worker

step "meters (smt.meter_status) and requests (smt.request_log)"
"${psql[@]}" -d smt_demo -c "SELECT esiid, state, state_reason, last_data_day, days_missing, next_action FROM smt.meter_status"
"${psql[@]}" -d smt_demo -c "SELECT request_id, report, first_day, last_day, state, files, last_error FROM smt.request_log ORDER BY request_id"

step "the enrolled meter's last days (smt.daily_usage beside its register reads, smt.daily_read)"
"${psql[@]}" -d smt_demo -c "SELECT u.day, u.import_kwh, u.export_kwh, r.start_reading, r.end_reading, r.usage_kwh AS register_kwh
                               FROM smt.daily_usage u LEFT JOIN smt.daily_read r USING (esiid, day)
                              WHERE u.esiid = '10443720000000001' ORDER BY u.day DESC LIMIT 5"

step "an on-demand read of the enrolled meter's register (smt.request_meter_read), polled until SMT has it"
"${psql[@]}" -d smt_demo -c "SELECT smt.request_meter_read('10443720000000001') AS request_id"
for _ in 1 2 3 4; do
  run_worker >/dev/null 2>&1
  sleep 1.5
done
"${psql[@]}" -d smt_demo -c "SELECT esiid, meter_number, registered_read, read_at, smt_status FROM smt.meter_read ORDER BY request_id DESC LIMIT 3"

step "the SFTP delivery (smt.delivery_log)"
"${psql[@]}" -d smt_demo -c "SELECT source, name, state, loaded_at FROM smt.delivery_log WHERE source LIKE 'sftp://%'"

step "smt status"
"$smt" status --config "$demo/smt.toml" --limit 8

step "explore further"
echo "  psql -h 127.0.0.1 -p $PORT -U postgres smt_demo"
echo "  e.g. SELECT * FROM smt.interval WHERE esiid = (SELECT min(esiid) FROM smt.interval_day) AND day = '2025-11-02';"
echo "       SELECT * FROM smt.interval_versions WHERE outcome <> 'current' LIMIT 5;"
echo "  stop the cluster with: bash scripts/pg.sh stop $demo/pgdata"
