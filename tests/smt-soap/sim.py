#!/usr/bin/env python3
"""The bundled stand-in for the seeds' SMT SOAP "ad hoc meter usage" API, for tests and `make demo`.

HTTPS with mutual TLS on 127.0.0.1, speaking SOAP 1.1 as seeds/001 shows it and
shared/docs/formats.md sums it up ("SMT SOAP ad hoc usage API"). The data are those of the JSON
API's stand-in (tests/smt-api/sim.py, imported by path: its csv_rows, daily_entry, available and
default config), so the same ESIID and day give the same values over both APIs.

  POST /meterusage  SOAP 1.1 (Content-Type text/xml; any SOAPAction): a soapenv:Envelope whose
                    Header holds wsse:Security/wsse:UsernameToken with wsse:Username (= --user) and
                    wsse:Password (PasswordText, = the value of the --password-env variable), and
                    whose Body holds met:processMeterUsage/MeterUsageReqList (met =
                    http://schemas.esb.ams.com/meterusagesource; children unqualified) with userId,
                    userType, reportTypeArray/reportTypeArray* {reportType INTERVAL|DAILY|MONTHLY,
                    startDate, endDate MM/DD/YYYY}, optional reportFormat (CSV; LSE is refused by
                    this simulator) and ESIIDArray/ESIID+.
      One ESIID and every report range at most 40 days (inclusive) -> synchronous: the CSV is
                    written at once to DIR/files/<name>, name IntervalMeterUsage<24 hex>.CSV.<DUNS>
                    (DailyMeterUsage..., MonthlyMeterUsage...), and the reply is
                    me:processMeterUsageResponse/MeterUsageResponse/fileUrl/fileUrl =
                    /data/AdhocMeterUsage/ETL/Target/<name> with <MeterUsageSOAPResponse xsi:nil="true"/>.
                    With config sync_also_drop a copy is also placed in DROPDIR.
      Otherwise    -> asynchronous: <MeterUsageResponse xsi:nil="true"/> and MeterUsageSOAPResponse
                    {correlationId (24 lowercase hex), statusCode 0, statusMessage "Data record
                    completed successfully"}; drop_delay_seconds (0.3) later
                    IntervalMeterUsage<correlationId>.CSV.<DUNS> (or Daily..., Monthly...) appears
                    in DROPDIR (written as .part, mode 0644, then renamed).
      One file per report type in the request (normally one per request): all ranges of that
                    type, in request order; a request mixing types gets one fileUrl (or dropped
                    file, same correlationId) per type.
      Files: interval  ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,
                       ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION (consumption; surplus
                       generation too for ESIIDs whose sha256 is even while config generation is on)
             daily     ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH
             monthly   ESIID,START_DATE,END_DATE,REVISION_DATE,ACTUAL_KWH (this simulator's own
                       layout: one row per calendar month of the range with data, the sum of its
                       daily kWh; SMT's monthly CSV is not public)
                       ESIIDs are written with a leading apostrophe as SMT does; CRLF lines. Days
                       from today (Central time) on, and days whose data SMT would not have yet,
                       have no rows.
      Refused with HTTP 500 and soapenv:Fault (faultcode soapenv:Client, faultstring saying why):
                    not XML, not a SOAP 1.1 envelope, no met:processMeterUsage; no WS-Security
                    UsernameToken, or a wrong Username or Password ("authentication failed");
                    missing userId, userType, reportTypeArray or ESIIDArray; a reportType not
                    INTERVAL/DAILY/MONTHLY; dates not MM/DD/YYYY or startDate after endDate; more
                    than 50,000 ESIIDs; interval or daily days before today minus 48 months,
                    monthly before today minus 24 months; for one ESIID, an interval span (earliest
                    start to latest end) of 13 months or more, a daily span over 1,200 days
                    (several ESIIDs may span the 48 months); reportFormat
                    not CSV (LSE: not supported by this simulator). Each faultstring names the limit.
  GET  /data/AdhocMeterUsage/ETL/Target/<name>   a synchronous reply's file (text/csv), else 404.

Test controls (JSON; same mutual-TLS server):

  POST /sim/config  update the config: the JSON sim's keys (rd_layout, revision_hours, generation,
                    data_lag_hours, ...) plus "sync_also_drop": bool, "drop_delay_seconds": N;
                    replies with the whole config
  POST /sim/faults  {"next": [...]}: each of the next POST /meterusage calls takes one, in order:
                    "503" (HTTP 503, an HTML body), "server_fault" (HTTP 500 soapenv:Server fault
                    "Service temporarily unavailable"), "malformed" (HTTP 200, truncated XML) -- these
                    before any check; "lose_result" (a valid request is accepted asynchronously
                    but no file is ever dropped), "status_error" (HTTP 200, the async shape with
                    statusCode 2, "Request could not be processed", no file) -- these after the
                    request's checks (a refused request still uses the fault up)
  GET  /sim/log     every call (but GET /sim/log): time, path, method, status, kind (sync, async,
                    fault, file, control, tls_refused), correlationId, fileUrl, files, esiids,
                    reports [{type, start, end}], username, has_password (never the password),
                    bearer (whether an Authorization: Bearer header came; never the token),
                    faultstring, injected (the /sim/faults fault used)

  sim.py DIR --user USERNAME --password-env VAR --duns DUNS --drop-dir DROPDIR
        Makes (once, with openssl) in DIR: ca.pem (+ca.key) signing server.pem/server.key
        (CN and SAN 127.0.0.1, SAN localhost) and client.pem/client.key (clientAuth); other-ca.pem
        (+other-ca.key) signing other-client.pem/other-client.key, a client the server refuses.
        Listens on a free port of 127.0.0.1, written to DIR/port (via DIR/port.tmp); requires a
        client certificate signed by ca.pem (no certificate, or another CA's: the TLS handshake
        fails). Synchronous files live in DIR/files. Defaults: --user SIMSERVICE, --password-env
        SMT_SOAP_PASSWORD, --duns 957877905, --drop-dir DIR/drop.
"""
import calendar
import datetime as dt
import hashlib
import http.server
import importlib.util
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

_spec = importlib.util.spec_from_file_location(
    "smt_api_sim", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "smt-api", "sim.py"))
api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api)
CENTRAL = api.CENTRAL

SOAPENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
MET = "http://schemas.esb.ams.com/meterusagesource"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
                 "#PasswordText")
ENVELOPE = ('<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
            '<soapenv:Header/>\n<soapenv:Body>\n{}\n</soapenv:Body>\n</soapenv:Envelope>\n')
RESPONSE = ('<me:processMeterUsageResponse xmlns:me="http://schemas.esb.ams.com/meterusagesource">\n'
            '{}\n</me:processMeterUsageResponse>')
FILE_PATH = "/data/AdhocMeterUsage/ETL/Target/"
FILE_NAME = re.compile(r"^(Interval|Daily|Monthly)MeterUsage[0-9a-f]{24}\.CSV\.[0-9A-Za-z]+$")
DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
PREFIX = {"INTERVAL": "IntervalMeterUsage", "DAILY": "DailyMeterUsage", "MONTHLY": "MonthlyMeterUsage"}
HEADER = {"INTERVAL": "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,"
                      "ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION",
          "DAILY": "ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH",
          "MONTHLY": "ESIID,START_DATE,END_DATE,REVISION_DATE,ACTUAL_KWH"}
FAULTS = ("503", "server_fault", "lose_result", "status_error", "malformed")
MAX_ESIIDS = 50_000
SYNC_DAYS = 40
HISTORY_MONTHS = {"INTERVAL": 48, "DAILY": 48, "MONTHLY": 24}
INTERVAL_SPAN_MONTHS = 13
DAILY_SPAN_DAYS = 1200


class Reject(Exception):
    """A request the service refuses: a soapenv:Client fault with this faultstring."""


class State:
    def __init__(self, user, password, duns):
        self.lock = threading.Lock()
        self.user = user
        self.password = password
        self.duns = duns
        self.faults = []
        self.log = []
        self.config = {**api.State(user, password).config, "sync_also_drop": False, "drop_delay_seconds": 0.3}


def add_months(day, n):
    y, m = divmod(day.month - 1 + n, 12)
    y += day.year
    return dt.date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def mdy(day):
    return day.strftime("%m/%d/%Y")


def child(parent, name, what):
    """The unqualified child `name` of `parent` (as the seed's samples have them), else Reject."""
    found = parent.find(name)
    if found is None:
        qualified = [c.tag for c in parent if c.tag.endswith("}" + name)]
        hint = f" (found {qualified[0]}: the seed's request elements are unqualified)" if qualified else ""
        raise Reject(f"missing {what}{hint}")
    return found


def text(parent, name, what):
    t = (child(parent, name, what).text or "").strip()
    if not t:
        raise Reject(f"{what} is empty")
    return t


def parse(raw, st, info):
    """The request as {"esiids", "reports": [(type, first, last)], "format"}; fills `info` (for
    the log) as far as it gets. Raises Reject for anything the service refuses."""
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as e:
        raise Reject(f"the request is not well-formed XML ({e})")
    if root.tag == f"{{{SOAP12}}}Envelope":
        raise Reject("a SOAP 1.2 envelope: this service speaks SOAP 1.1 (http://schemas.xmlsoap.org/soap/envelope/)")
    if root.tag != f"{{{SOAPENV}}}Envelope":
        raise Reject(f"not a SOAP 1.1 envelope: the root element is {root.tag}")
    body = root.find(f"{{{SOAPENV}}}Body")
    if body is None:
        raise Reject("the SOAP envelope has no soapenv:Body")
    call = body.find(f"{{{MET}}}processMeterUsage")
    if call is None:
        found = [c.tag for c in body]
        raise Reject(f"the SOAP body has no processMeterUsage in namespace {MET} (found {found})")
    # WS-Security UsernameToken
    header = root.find(f"{{{SOAPENV}}}Header")
    token = None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    username = None if token is None else token.find(f"{{{WSSE}}}Username")
    if username is None:
        raise Reject("authentication failed: no wsse:Security/wsse:UsernameToken/wsse:Username in the SOAP "
                     f"header (wsse = {WSSE})")
    password = token.find(f"{{{WSSE}}}Password")
    info["username"] = username.text
    info["has_password"] = password is not None and bool(password.text)
    if password is not None and password.get("Type") not in (None, PASSWORD_TEXT):
        raise Reject("authentication failed: only wsse:Password Type PasswordText is supported by this simulator")
    if username.text != st.user or password is None or password.text != st.password:
        raise Reject("authentication failed")
    req = child(call, "MeterUsageReqList", "MeterUsageReqList")
    text(req, "userId", "userId")
    text(req, "userType", "userType")
    outer = child(req, "reportTypeArray", "reportTypeArray")
    esiid_array = child(req, "ESIIDArray", "ESIIDArray")
    esiids = [(e.text or "").strip() for e in esiid_array.findall("ESIID")]
    info["esiids"] = esiids if len(esiids) <= 100 else esiids[:100] + [f"... {len(esiids)} in all"]
    raw_reports = []
    for r in outer.findall("reportTypeArray"):
        raw_reports.append({"type": (r.findtext("reportType") or "").strip(),
                            "start": (r.findtext("startDate") or "").strip(),
                            "end": (r.findtext("endDate") or "").strip()})
    info["reports"] = raw_reports
    if not raw_reports:
        raise Reject("reportTypeArray holds no reportTypeArray entry (reportType, startDate, endDate)")
    if not esiids:
        raise Reject("ESIIDArray holds no ESIID")
    if any(not e for e in esiids):
        raise Reject("an ESIID of ESIIDArray is empty")
    if len(esiids) > MAX_ESIIDS:
        raise Reject(f"{len(esiids)} ESIIDs in one request: the limit is {MAX_ESIIDS:,} ESIIDs a request")
    fmt = (req.findtext("reportFormat") or "CSV").strip()
    if fmt == "LSE":
        raise Reject("reportFormat LSE is not supported by this simulator (use CSV)")
    if fmt != "CSV":
        raise Reject(f"reportFormat {fmt!r} is not supported: reportFormat must be CSV or LSE")
    today = dt.datetime.now(CENTRAL).date()
    reports = []
    for r in raw_reports:
        kind = r["type"]
        if kind not in PREFIX:
            raise Reject(f"reportType {kind!r} is not one of INTERVAL, DAILY, MONTHLY")
        dates = []
        for field in ("start", "end"):
            name = field + "Date"
            if not r[field]:
                raise Reject(f"{kind} report: {name} is missing (MM/DD/YYYY)")
            try:
                if not DATE.match(r[field]):
                    raise ValueError
                dates.append(dt.datetime.strptime(r[field], "%m/%d/%Y").date())
            except ValueError:
                raise Reject(f"{kind} report: {name} {r[field]!r} is not a date MM/DD/YYYY")
        first, last = dates
        if first > last:
            raise Reject(f"{kind} report: startDate {mdy(first)} is after endDate {mdy(last)}")
        months = HISTORY_MONTHS[kind]
        earliest = add_months(today, -months)
        if first < earliest:
            raise Reject(f"{kind} report: startDate {mdy(first)} is more than {months} months ago: "
                         f"{kind.lower()} usage is kept for the last {months} months (earliest {mdy(earliest)})")
        reports.append((kind, first, last))
    spans = {}
    for kind, first, last in reports:
        a, b = spans.get(kind, (first, last))
        spans[kind] = (min(a, first), max(b, last))
    # The span limits are one ESIID's (seeds/001: one ESIID under 13 months of intervals, up to
    # 1,200 days of daily reads); several ESIIDs may span the whole 48 months.
    if len(esiids) > 1:
        spans = {}
    if "INTERVAL" in spans:
        first, last = spans["INTERVAL"]
        if last + dt.timedelta(days=1) >= add_months(first, INTERVAL_SPAN_MONTHS):
            raise Reject(f"interval usage {mdy(first)} to {mdy(last)} for one ESIID in one request: the limit "
                         f"is less than {INTERVAL_SPAN_MONTHS} months of interval data per ESIID a request")
    if "DAILY" in spans:
        first, last = spans["DAILY"]
        n = (last - first).days + 1
        if n > DAILY_SPAN_DAYS:
            raise Reject(f"daily reads {mdy(first)} to {mdy(last)} ({n} days) for one ESIID in one request: "
                         f"the limit is {DAILY_SPAN_DAYS:,} days of daily reads per ESIID a request")
    return {"esiids": esiids, "reports": reports, "format": fmt}


def data_days(first, last, config):
    """The days of [first, last] SMT has data of: before today (Central) and available()."""
    today = dt.datetime.now(CENTRAL).date()
    day = first
    while day <= min(last, today - dt.timedelta(days=1)):
        if api.available(day, config):
            yield day
        day += dt.timedelta(days=1)


def has_generation(esiid):
    return int(hashlib.sha256(esiid.encode()).hexdigest(), 16) % 2 == 0


def lines(kind, esiids, ranges, config):
    """The CSV of one report type: header and rows, each line without its CRLF."""
    yield HEADER[kind]
    for first, last in ranges:
        if kind == "INTERVAL":
            for day in data_days(first, last, config):
                for esiid in esiids:
                    channels = ["C", "G"] if config["generation"] and has_generation(esiid) else ["C"]
                    for channel in channels:
                        yield from api.csv_rows(esiid, day, channel, config)
        elif kind == "DAILY":
            for day in data_days(first, last, config):
                for esiid in esiids:
                    d = api.daily_entry(esiid, day, config)
                    yield (f"'{esiid},{d['readDate']},{d['revisionDate']},{d['startReading']},"
                           f"{d['endReading']},{d['energyDataKwh']}")
        else:
            days = list(data_days(first, last, config))
            months = {}
            for day in days:
                months.setdefault((day.year, day.month), []).append(day)
            for esiid in esiids:
                for month_days in months.values():
                    entries = [api.daily_entry(esiid, day, config) for day in month_days]
                    milli = sum(int(e["energyDataKwh"].replace(".", "")) for e in entries)
                    yield (f"'{esiid},{mdy(month_days[0])},{mdy(month_days[-1])},{entries[-1]['revisionDate']},"
                           f"{milli // 1000}.{milli % 1000:03d}")


def write_csv(target, kind, esiids, ranges, config):
    """Writes the CSV to target + ".part", mode 0644, then renames it to target."""
    with open(target + ".part", "w", newline="") as f:
        for line in lines(kind, esiids, ranges, config):
            f.write(line + "\r\n")
    os.chmod(target + ".part", 0o644)
    os.replace(target + ".part", target)


def by_type(reports):
    """{type: [(first, last), ...]} in the order the types first appear."""
    grouped = {}
    for kind, first, last in reports:
        grouped.setdefault(kind, []).append((first, last))
    return grouped


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, *args):
        pass

    def reply(self, status, data, ctype="text/xml; charset=utf-8"):
        if isinstance(data, str):
            data = data.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def reply_json(self, status, body):
        return self.reply(status, json.dumps(body), "application/json")

    def soap_fault(self, code, message, entry):
        entry["kind"] = "fault"
        entry["faultstring"] = message
        return self.reply(500, ENVELOPE.format(
            f"<soapenv:Fault>\n<faultcode>soapenv:{code}</faultcode>\n"
            f"<faultstring>{escape(message)}</faultstring>\n</soapenv:Fault>"))

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def entry(self, method):
        return {"time": time.time(), "method": method, "path": self.path, "status": None, "kind": None,
                "correlationId": None, "fileUrl": None, "files": [], "esiids": None, "reports": None,
                "username": None, "has_password": False, "faultstring": None, "injected": None,
                # whether a bearer token came (SMT's SOAP calls may carry one; never logged itself)
                "bearer": (self.headers.get("Authorization") or "").startswith("Bearer ")}

    def record(self, entry, status):
        entry["status"] = status
        st = self.server.state
        with st.lock:
            st.log.append(entry)

    def do_GET(self):
        st = self.server.state
        if self.path == "/sim/log":
            with st.lock:
                return self.reply_json(200, st.log)
        entry = self.entry("GET")
        entry["kind"] = "file"
        name = self.path[len(FILE_PATH):] if self.path.startswith(FILE_PATH) else ""
        path = os.path.join(self.server.files_dir, name)
        if not FILE_NAME.match(name) or not os.path.isfile(path):
            return self.record(entry, self.reply(404, "not found\n", "text/plain"))
        with open(path, "rb") as f:
            data = f.read()
        entry["files"] = [name]
        return self.record(entry, self.reply(200, data, "text/csv"))

    def do_POST(self):
        st = self.server.state
        raw = self.read_body()
        entry = self.entry("POST")
        if self.path.startswith("/sim/"):
            entry["kind"] = "control"
            try:
                body = json.loads(raw or b"{}")
                assert isinstance(body, dict)
            except (ValueError, AssertionError):
                return self.record(entry, self.reply_json(400, {"error": "malformed JSON"}))
            if self.path == "/sim/config":
                with st.lock:
                    st.config.update(body)
                    config = dict(st.config)
                return self.record(entry, self.reply_json(200, config))
            if self.path == "/sim/faults":
                faults = body.get("next", [])
                unknown = [f for f in faults if f not in FAULTS]
                if not isinstance(faults, list) or unknown:
                    return self.record(entry, self.reply_json(400, {"error": f"unknown faults {unknown}; known: {FAULTS}"}))
                with st.lock:
                    st.faults.extend(faults)
                    queued = len(st.faults)
                return self.record(entry, self.reply_json(200, {"queued": queued}))
            return self.record(entry, self.reply_json(404, {"error": "unknown control"}))
        if self.path != "/meterusage":
            return self.record(entry, self.reply(404, "not found\n", "text/plain"))
        try:
            status = self.meterusage(st, raw, entry)
        except Exception as e:  # a bug of this simulator: say so, as a server fault
            print(f"sim.py: {type(e).__name__}: {e}", file=sys.stderr)
            status = self.soap_fault("Server", f"simulator error: {type(e).__name__}: {e}", entry)
        self.record(entry, status)

    def meterusage(self, st, raw, entry):
        problem = None
        try:
            ctype = self.headers.get("Content-Type", "")
            if not ctype.lower().startswith("text/xml"):
                raise Reject(f"Content-Type {ctype!r}: a SOAP 1.1 request must be text/xml")
            request = parse(raw, st, entry)
        except Reject as e:
            problem = str(e)
        with st.lock:
            fault = st.faults.pop(0) if st.faults else None
            config = dict(st.config)
        entry["injected"] = fault
        if fault == "503":
            entry["kind"] = "fault"
            return self.reply(503, "<html><body><h1>503 Service Unavailable</h1></body></html>", "text/html")
        if fault == "server_fault":
            return self.soap_fault("Server", "Service temporarily unavailable", entry)
        if fault == "malformed":
            entry["kind"] = "fault"
            cid = secrets.token_hex(12)
            whole = ENVELOPE.format(RESPONSE.format(self.async_body(cid, 0)))
            return self.reply(200, whole[:whole.index("<correlationId>") + 20])
        if problem is not None:
            return self.soap_fault("Client", problem, entry)
        entry["reports"] = [{"type": k, "start": mdy(a), "end": mdy(b)} for k, a, b in request["reports"]]
        esiids, grouped = request["esiids"], by_type(request["reports"])
        sync = len(esiids) == 1 and all((b - a).days + 1 <= SYNC_DAYS for _, a, b in request["reports"])
        if sync and fault is None:
            return self.synchronous(st, esiids, grouped, config, entry)
        cid = secrets.token_hex(12)
        entry["kind"] = "async"
        entry["correlationId"] = cid
        if fault == "status_error":
            return self.reply(200, ENVELOPE.format(RESPONSE.format(self.async_body(cid, 2))))
        names = [f"{PREFIX[kind]}{cid}.CSV.{st.duns}" for kind in grouped]
        entry["files"] = names
        if fault != "lose_result":
            def drop():
                try:
                    for name, (kind, ranges) in zip(names, grouped.items()):
                        write_csv(os.path.join(self.server.drop_dir, name), kind, esiids, ranges, config)
                except Exception as e:
                    print(f"sim.py: dropping {names}: {type(e).__name__}: {e}", file=sys.stderr)
            timer = threading.Timer(float(config["drop_delay_seconds"]), drop)
            timer.daemon = True
            timer.start()
        return self.reply(200, ENVELOPE.format(RESPONSE.format(self.async_body(cid, 0))))

    @staticmethod
    def async_body(cid, code):
        message = "Data record completed successfully" if code == 0 else "Request could not be processed"
        return ('<MeterUsageResponse xsi:nil="true"/>\n<MeterUsageSOAPResponse>\n'
                f"<correlationId>{cid}</correlationId>\n<statusCode>{code}</statusCode>\n"
                f"<statusMessage>{message}</statusMessage>\n</MeterUsageSOAPResponse>")

    def synchronous(self, st, esiids, grouped, config, entry):
        urls = []
        for kind, ranges in grouped.items():
            name = f"{PREFIX[kind]}{secrets.token_hex(12)}.CSV.{st.duns}"
            target = os.path.join(self.server.files_dir, name)
            write_csv(target, kind, esiids, ranges, config)
            if config.get("sync_also_drop"):
                shutil.copyfile(target, os.path.join(self.server.drop_dir, name + ".part"))
                os.chmod(os.path.join(self.server.drop_dir, name + ".part"), 0o644)
                os.replace(os.path.join(self.server.drop_dir, name + ".part"), os.path.join(self.server.drop_dir, name))
            entry["files"].append(name)
            urls.append(FILE_PATH + name)
        entry["kind"] = "sync"
        entry["fileUrl"] = urls[0]
        file_urls = "\n".join(f"<fileUrl>{u}</fileUrl>" for u in urls)
        return self.reply(200, ENVELOPE.format(RESPONSE.format(
            f"<MeterUsageResponse>\n<fileUrl>\n{file_urls}\n</fileUrl>\n</MeterUsageResponse>\n"
            '<MeterUsageSOAPResponse xsi:nil="true"/>')))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        """The TLS handshake runs here, in the connection's own thread: a refused client (no
        certificate, another CA's) is logged as tls_refused and never reaches the handler."""
        request.settimeout(10)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError, TimeoutError):
            return  # a port probe or a client gone away
        except ssl.SSLError as e:
            with self.state.lock:
                self.state.log.append({"time": time.time(), "method": None, "path": None, "status": None,
                                       "kind": "tls_refused", "correlationId": None, "fileUrl": None,
                                       "files": [], "esiids": None, "reports": None, "username": None,
                                       "has_password": False, "faultstring": str(e), "injected": None})
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)


def pki(d):
    """The JSON sim's CA and server certificate (its pki()), plus this API's client certificates:
    client.pem/client.key signed by ca.pem, and other-client.pem/.key signed by other-ca.pem."""
    api.pki(d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True)
    if not os.path.exists(f"{d}/other-ca.pem"):
        run("openssl", "req", "-x509", *ec, "-keyout", f"{d}/other-ca.key", "-out", f"{d}/other-ca.pem",
            "-days", "2", "-subj", "/CN=smt soap other test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(f"{d}/client.ext", "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=clientAuth\n")
    for name, ca in (("client", "ca"), ("other-client", "other-ca")):
        if os.path.exists(f"{d}/{name}.pem"):
            continue
        run("openssl", "req", *ec, "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr",
            "-subj", f"/CN=smt soap test {name}")
        run("openssl", "x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/{ca}.pem", "-CAkey", f"{d}/{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{d}/client.ext", "-out", f"{d}/{name}.pem.tmp")
        os.remove(f"{d}/{name}.csr")
        os.replace(f"{d}/{name}.pem.tmp", f"{d}/{name}.pem")
    os.remove(f"{d}/client.ext")


def main():
    usage = "usage: sim.py DIR --user USERNAME --password-env VAR --duns DUNS --drop-dir DROPDIR"
    if len(sys.argv) < 2 or len(sys.argv) % 2 != 0:
        sys.exit(usage)
    d = sys.argv[1]
    args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
    unknown = set(args) - {"--user", "--password-env", "--duns", "--drop-dir"}
    if unknown:
        sys.exit(f"unknown options {sorted(unknown)}\n{usage}")
    variable = args.get("--password-env", "SMT_SOAP_PASSWORD")
    if variable not in os.environ:
        sys.exit(f"sim.py: the password variable {variable} is not set")
    os.makedirs(d, exist_ok=True)
    pki(d)
    server = Server(("127.0.0.1", 0), Handler)
    server.state = State(args.get("--user", "SIMSERVICE"), os.environ[variable], args.get("--duns", "957877905"))
    server.files_dir = os.path.join(d, "files")
    server.drop_dir = args.get("--drop-dir", os.path.join(d, "drop"))
    os.makedirs(server.files_dir, exist_ok=True)
    os.makedirs(server.drop_dir, exist_ok=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{d}/server.pem", f"{d}/server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(f"{d}/ca.pem")
    server.context = context
    with open(f"{d}/port.tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(f"{d}/port.tmp", f"{d}/port")
    server.serve_forever()


if __name__ == "__main__":
    main()
