#!/usr/bin/env python3
"""The bundled stand-in for today's SMT JSON API (2025 onward), for tests and `make demo`.

HTTPS (real TLS, a CA and server certificate made here with openssl) on 127.0.0.1, speaking the
calls as shared/docs/formats.md documents them ("Today's SMT interfaces"):

  POST /v2/token/               {"username", "password"} -> a bearer token with expiresIn
  POST /v2/15minintervalreads/  identity fields, startDate/endDate MM/DD/YYYY, esiid [...],
                                deliveryMode API -> {"trans_id", "esiid", "energyData": [...]}
  POST /v2/dailyreads/          the same fields -> {"registeredReads": [{"readDate",
                                "revisionDate", "startReading", "endReading", "energyDataKwh"}]}
                                (the day's kWh is the sum of its consumption intervals)
                                deliveryMode FTP (with --drop-dir DIR) -> {"correlationId"}, and
                                a moment later IntervalMeterUsage<id>.CSV.<DUNS> (SMT's CSV) in DIR
  POST /v2/NewAgreement/        retailCustomerEmail, agreementDuration, customerMeterList ->
                                {"agreementNumber"}; the customer "answers" after
                                agreement_delay_seconds: an e-mail containing "reject" declines
  POST /v2/myagreements/        -> {"agreementList": [{"agreementNumber", "agreementStatus",
                                "statusReason"}]} (PENDING, ACTIVE, REJECTED, TERMINATED)
  POST /v2/Terminateagreement/  {"agreementList": [{"agreementNumber", ...}]}
  POST /v2/meterInfo/           esiid -> {"meterInfo": {"ESIID", "meterNumber", "meterSerialNumber", ...}}
  POST /v2/odr/                 ESIID, MeterNumber, reportFormat JSON, deliveryMode API ->
                                {"correlationId", "statusCode": "0"}; at most odr_cap_per_tdsp a
                                Central day per TDSP (SMT's 3,000), then SMT's error
  POST /v2/odrstatus/           correlationId -> {"statusCode": "PEN"} for odr_delay_seconds, then
                                "COMPLETED" with odrRead {registeredRead, readDate}; a meter
                                number containing FAIL ends "T-FAILED", one containing ODD first
                                shows a status no client knows ("SENT-TO-TDSP")
  POST /v2/NewSubscription/     subscriptionType, historicalSubscriptionDuration, reportFormat,
                                dataType, deliveryMode -> {"subscriptionNumber"}; with deliveryMode
                                FTP, reportFormat CSV and --drop-dir, yesterday's file of every
                                active agreement's ESIIDs is dropped there (and each day's on
                                POST /sim/deliver)
  POST /v2/Mysubscriptions/     -> {"subscriptionList": [...]}
  POST /v2/UnSubscription/      {"subscriptionNumber"}

Every data call needs a valid, unexpired token (else 401) and SMT's identity fields (else 400).
Days from today on (Central time) are answered "No data received from the respective TDSP".
Values are made from a hash of ESIID, day, channel and revision: the same ask gives the same
reply. Test controls (no auth; this is a simulator on loopback only):

  POST /sim/config  {"rd_layout": "sequential"|"fixed100", "revision_hours": N,
                     "generation": true|false, "token_seconds": N, "extra_keys": true|false
                     (interval replies carry fields no client reads), "data_lag_hours": N,
                     "agreement_delay_seconds": N, "odr_delay_seconds": N, "odr_cap_per_tdsp": N}
  POST /sim/faults  {"next": ["503", "malformed", "stale_token", "smt_error"], "expire_tokens": true}
  GET  /sim/log     every call received: path, time, status, trans_id, esiid, days, token use
  GET  /sim/odr     every on-demand read: correlationId -> ESIID, meter, status, registeredRead
  POST /sim/deliver {"day": "YYYY-MM-DD"}: drops that day's file of every active subscription

  sim.py DIR [--user U --password-env VAR --drop-dir SFTPDIR]
                                             listens on a free port, writes it to DIR/port;
                                             DIR/ca.pem is the CA the client must trust.
"""
import datetime as dt
import hashlib
import http.server
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import time
from zoneinfo import ZoneInfo

CENTRAL = ZoneInfo("America/Chicago")
NOT_YET = {"errorCode": "1", "errorMessage": "No data received from the respective TDSP"}
IDENTITY = ("trans_id", "requestorID", "requesterType", "requesterAuthenticationID", "SMTTermsandConditions")


class State:
    def __init__(self, user, password):
        self.lock = threading.Lock()
        self.user = user
        self.password = password
        self.tokens = {}  # token -> expiry (monotonic)
        self.agreements = {}  # number -> {"email", "esiid", "created", "terminated"}
        self.odrs = {}  # correlationId -> {"esiid", "meter", "created", "day", "polls", "status", "read"}
        self.subscriptions = {}  # number -> the NewSubscription body, "cancelled"
        self.serial = 0
        self.faults = []
        self.log = []
        self.config = {"rd_layout": "sequential", "revision_hours": 0, "generation": True,
                       "token_seconds": 3600, "agreement_delay_seconds": 1, "data_lag_hours": 6,
                       "odr_delay_seconds": 1, "odr_cap_per_tdsp": 3000}

    def next_serial(self):
        with self.lock:
            self.serial += 1
            return self.serial

    def agreement_status(self, a):
        """An agreement's status and reason now (call with the lock held)."""
        if a["terminated"]:
            return "TERMINATED", "Terminated by the requestor"
        if time.monotonic() - a["created"] < float(self.config["agreement_delay_seconds"]):
            return "PENDING", "Awaiting customer authorization"
        if "reject" in a["email"]:
            return "REJECTED", "Customer declined the agreement"
        return "ACTIVE", "Customer accepted the agreement"


def slots_in_day(day):
    start = dt.datetime(day.year, day.month, day.day, tzinfo=CENTRAL)
    nxt = day + dt.timedelta(days=1)
    end = dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=CENTRAL)
    return int((end.astimezone(dt.timezone.utc) - start.astimezone(dt.timezone.utc)).total_seconds() // 900)


def value(esiid, day, channel, revision, i):
    h = int.from_bytes(hashlib.sha256(f"{esiid}|{day}|{channel}|{revision}|{i}".encode()).digest()[:8], "big")
    if h % 97 == 0:
        return ""  # a missing interval
    flag = "E" if h % 31 == 0 else "A"
    units = (h >> 8) % 5000 if channel == "C" else (h >> 8) % 1500
    return f"{units // 1000}.{units % 1000:03d}-{flag}"


def revision_of(day, config):
    """When SMT has a day's data: data_lag_hours after the day ends (06:00 the next morning by
    default), moved by revision_hours (a later revision of the same days)."""
    return dt.datetime(day.year, day.month, day.day) + dt.timedelta(
        days=1, hours=config["data_lag_hours"] + config["revision_hours"])


def available(day, config):
    """Whether SMT has the day's data yet (its revision is not in the future, Central time)."""
    return revision_of(day, config) <= dt.datetime.now(CENTRAL).replace(tzinfo=None)


def day_entry(esiid, day, channel, config):
    revision = revision_of(day, config)
    n = slots_in_day(day)
    values = [value(esiid, day, channel, revision, i) for i in range(n)]
    if config["rd_layout"] == "fixed100" and n != 100:
        # the repeated hour (slots 9-12) empty; on the spring day 02:00-03:00 (13-16) too
        values = values[:8] + [""] * 4 + ([""] * 4 if n == 92 else []) + values[8:]
    return {"DT": day.strftime("%m/%d/%Y"), "RevTS": revision.strftime("%m/%d/%Y %H:%M:%S"),
            "RT": channel, "RD": ",".join(values)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return status

    def do_GET(self):
        st = self.server.state
        if self.path == "/sim/log":
            with st.lock:
                return self.reply(200, st.log)
        if self.path == "/sim/odr":
            with st.lock:
                return self.reply(200, {cid: {k: v for k, v in o.items() if k not in ("created", "day")}
                                        for cid, o in st.odrs.items()})
        return self.reply(404, {"statusCode": "404", "statusReason": "not found"})

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.reply(400, {"statusCode": "400", "statusReason": "malformed JSON"})
        entry = {"path": self.path, "time": time.time(), "trans_id": body.get("trans_id"),
                 "esiid": body.get("esiid"), "startDate": body.get("startDate"),
                 "endDate": body.get("endDate"), "bearer": None,
                 "body": None if self.path == "/v2/token/" else body}
        status = self.route(st, body, entry)
        entry["status"] = status
        with st.lock:
            st.log.append(entry)

    def route(self, st, body, entry):
        if self.path == "/sim/config":
            with st.lock:
                st.config.update(body)
            return self.reply(200, st.config)
        if self.path == "/sim/deliver":
            day = dt.date.fromisoformat(body["day"])
            return self.reply(200, {"files": self.server.deliver(st, day, None)})
        if self.path == "/sim/faults":
            with st.lock:
                st.faults.extend(body.get("next", []))
                if body.get("expire_tokens"):
                    st.tokens.clear()
            return self.reply(200, {"queued": len(st.faults)})
        if self.path == "/v2/token/":
            if body.get("username") != st.user or body.get("password") != st.password:
                return self.reply(401, {"statusCode": "401", "statusReason": "Invalid credentials"})
            token = secrets.token_hex(24)
            life = int(st.config["token_seconds"])
            now = dt.datetime.now(CENTRAL)
            with st.lock:
                st.tokens[token] = time.monotonic() + life
            return self.reply(200, {
                "statusCode": "200", "accessToken": token, "tokenType": "Bearer", "expiresIn": str(life),
                "issuedAt": now.strftime("%m/%d/%Y %H:%M:%S"),
                "expiresAt": (now + dt.timedelta(seconds=life)).strftime("%m/%d/%Y %H:%M:%S")})
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        entry["bearer"] = token
        with st.lock:
            fault = st.faults.pop(0) if st.faults and self.path.startswith("/v2/") else None
            valid = token is not None and st.tokens.get(token, 0) > time.monotonic()
            if fault == "stale_token":
                st.tokens.pop(token, None)
                valid = False
        if not valid:
            return self.reply(401, {"statusCode": "401", "statusReason": "Invalid or expired token"})
        if fault == "503":
            return self.reply(503, None, raw=b"<html><body>Service Unavailable</body></html>")
        if fault == "malformed":
            return self.reply(200, None, raw=b'{"trans_id": "x", "energyData": [')
        if fault == "smt_error":
            return self.reply(200, {"errorCode": "2", "errorMessage": "Invalid ESIID for this requestor"})
        missing = [f for f in IDENTITY if not body.get(f)]
        if missing or body.get("requestorID") != st.user or body.get("SMTTermsandConditions") != "Y":
            return self.reply(400, {"statusCode": "400", "statusReason": f"missing or wrong identity fields {missing}"})
        if self.path == "/v2/15minintervalreads/":
            return self.interval_reads(st, body)
        if self.path == "/v2/dailyreads/":
            return self.daily_reads(st, body)
        if self.path == "/v2/NewAgreement/":
            return self.new_agreement(st, body)
        if self.path == "/v2/myagreements/":
            return self.my_agreements(st)
        if self.path == "/v2/meterInfo/":
            return self.meter_info(st, body)
        if self.path == "/v2/odr/":
            return self.odr(st, body)
        if self.path == "/v2/odrstatus/":
            return self.odr_status(st, body)
        if self.path == "/v2/NewSubscription/":
            return self.new_subscription(st, body)
        if self.path == "/v2/Mysubscriptions/":
            with st.lock:
                listed = [{"subscriptionNumber": n, "dataType": b["dataType"], "reportFormat": b["reportFormat"],
                           "status": "CANCELLED" if b["cancelled"] else "ACTIVE"} for n, b in st.subscriptions.items()]
            return self.reply(200, {"statusCode": "0", "subscriptionList": listed})
        if self.path == "/v2/UnSubscription/":
            return self.unsubscription(st, body)
        if self.path == "/v2/Terminateagreement/":
            with st.lock:
                for a in body.get("agreementList", []):
                    if a.get("agreementNumber") in st.agreements:
                        st.agreements[a["agreementNumber"]]["terminated"] = True
            return self.reply(200, {"statusCode": "0", "statusReason": "Agreement terminated"})
        return self.reply(404, {"statusCode": "404", "statusReason": "unknown call"})

    def new_agreement(self, st, body):
        meters = body.get("customerMeterList") or []
        email = body.get("retailCustomerEmail") or ""
        if body.get("agreementDuration") not in (1, 3, 6, 9, 12, 24, 36) or not meters or "@" not in email \
                or not all(m.get("ESIID") and m.get("meterNumber") for m in meters):
            return self.reply(200, {"errorCode": "3", "errorMessage": "Invalid agreement request"})
        with st.lock:
            number = f"AG{len(st.agreements) + 1:08d}"
            st.agreements[number] = {"email": email, "esiid": meters[0]["ESIID"], "meter": meters[0]["meterNumber"],
                                     "created": time.monotonic(), "terminated": False}
        return self.reply(200, {"statusCode": "0", "agreementNumber": number,
                                "statusReason": "Agreement created; e-mail sent to the customer"})

    def my_agreements(self, st):
        with st.lock:
            listed = []
            for number, a in st.agreements.items():
                status, reason = st.agreement_status(a)
                listed.append({"agreementNumber": number, "ESIID": a["esiid"],
                               "agreementStatus": status, "statusReason": reason})
        return self.reply(200, {"statusCode": "0", "agreementList": listed})

    def meter_info(self, st, body):
        esiid = body.get("ESIID") or (body.get("esiid") or [None])[0]
        with st.lock:
            known = [a for a in st.agreements.values() if a["esiid"] == esiid]
        if not esiid or not known:
            return self.reply(200, {"errorCode": "4", "errorMessage": "ESIID not found for this requestor"})
        digest = hashlib.sha256(esiid.encode()).hexdigest()
        return self.reply(200, {"trans_id": body["trans_id"], "statusCode": "0", "meterInfo": {
            "ESIID": esiid, "meterNumber": known[-1].get("meter", ""), "meterSerialNumber": digest[:10].upper(),
            "meterType": "AMS", "meterMultiplier": "1"}})

    def odr(self, st, body):
        esiid, meter = body.get("ESIID"), body.get("MeterNumber")
        if not esiid or not meter or body.get("reportFormat") != "JSON" or body.get("deliveryMode") != "API":
            return self.reply(200, {"errorCode": "5", "errorMessage": "ESIID, MeterNumber, reportFormat JSON and deliveryMode API are required"})
        today = dt.datetime.now(CENTRAL).date()
        with st.lock:
            tdsp = esiid[:7]
            today_count = sum(1 for o in st.odrs.values() if o["esiid"][:7] == tdsp and o["day"] == today)
            if today_count >= int(st.config["odr_cap_per_tdsp"]):
                return self.reply(200, {"errorCode": "6", "errorMessage": "The daily limit of on-demand reads for this TDSP has been reached"})
        cid = f"ODR{st.next_serial():08d}"
        start = 10_000_000 + int(hashlib.sha256(esiid.encode()).hexdigest(), 16) % 1000
        milli = start * 1000 + int(hashlib.sha256(cid.encode()).hexdigest(), 16) % 1000
        with st.lock:
            st.odrs[cid] = {"esiid": esiid, "meter": meter, "created": time.monotonic(), "day": today, "polls": 0,
                            "status": "PEN", "registeredRead": f"{milli // 1000}.{milli % 1000:03d}", "readDate": None}
        return self.reply(200, {"trans_id": body["trans_id"], "correlationId": cid, "statusCode": "0",
                                "statusReason": "On-demand read request accepted"})

    def odr_status(self, st, body):
        cid = body.get("correlationId")
        with st.lock:
            o = st.odrs.get(cid)
            if o is None:
                return self.reply(200, {"errorCode": "7", "errorMessage": f"Unknown correlationId {cid}"})
            o["polls"] += 1
            done = time.monotonic() - o["created"] >= float(st.config["odr_delay_seconds"])
            if "ODD" in o["meter"] and o["polls"] == 1:
                o["status"] = "SENT-TO-TDSP"
            elif not done:
                o["status"] = "PEN"
            elif "FAIL" in o["meter"]:
                o["status"] = "T-FAILED"
            else:
                o["status"] = "COMPLETED"
                o["readDate"] = o["readDate"] or dt.datetime.now(CENTRAL).strftime("%m/%d/%Y %H:%M:%S")
            o = dict(o)
        reply = {"trans_id": body["trans_id"], "correlationId": cid, "statusCode": o["status"]}
        if o["status"] == "COMPLETED":
            reply["odrRead"] = {"registeredRead": o["registeredRead"], "readDate": o["readDate"]}
        elif o["status"] == "T-FAILED":
            reply["statusReason"] = "Meter did not respond to the on-demand read"
        else:
            reply["statusReason"] = "Read requested from the TDSP"
        return self.reply(200, reply)

    def new_subscription(self, st, body):
        if body.get("subscriptionType") not in ("CSPENROLL", "SCHEDULE", "SCHEDULES", "REPENROLL") \
                or body.get("reportFormat") not in ("LSE", "CSV", "JSON", "XML") \
                or body.get("dataType") not in ("DAILY", "INTERVAL", "MONTHLY") \
                or body.get("deliveryMode") not in ("FTP", "EML", "API") \
                or not isinstance(body.get("historicalSubscriptionDuration"), int):
            return self.reply(200, {"errorCode": "8", "errorMessage": "Invalid subscription request"})
        number = f"SB{st.next_serial():06d}"
        with st.lock:
            st.subscriptions[number] = {**body, "cancelled": False}
        yesterday = dt.datetime.now(CENTRAL).date() - dt.timedelta(days=1)
        threading.Timer(0.3, lambda: self.server.deliver(st, yesterday, [number])).start()
        return self.reply(200, {"trans_id": body["trans_id"], "statusCode": "0", "subscriptionNumber": number,
                                "statusReason": "Subscription created"})

    def unsubscription(self, st, body):
        number = body.get("subscriptionNumber")
        with st.lock:
            sub = st.subscriptions.get(number)
            if sub is None or sub["cancelled"]:
                return self.reply(200, {"errorCode": "9", "errorMessage": f"No active subscription {number}"})
            sub["cancelled"] = True
        return self.reply(200, {"statusCode": "0", "statusReason": "Subscription cancelled"})

    def interval_file(self, st, body, first, last, esiids):
        """Accepts the request and drops SMT's interval CSV of it into the drop directory."""
        with st.lock:
            config = dict(st.config)
            st.files = getattr(st, "files", 0) + 1
            cid = f"{int(time.time())}{st.files:04d}"
        today = dt.datetime.now(CENTRAL).date()
        lines = ["ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,"
                 "ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION"]
        day = first
        while day <= min(last, today - dt.timedelta(days=1)):
            if available(day, config):
                for esiid in esiids:
                    channels = ["C"]
                    if body.get("readingType") == "A" and config["generation"] \
                            and int(hashlib.sha256(esiid.encode()).hexdigest(), 16) % 2 == 0:
                        channels.append("G")
                    for channel in channels:
                        lines.extend(csv_rows(esiid, day, channel, config))
            day += dt.timedelta(days=1)
        name = f"IntervalMeterUsage{cid}.CSV.{body['requesterAuthenticationID']}"
        target = os.path.join(self.server.drop_dir, name)
        text = "\r\n".join(lines) + "\r\n"

        def drop():
            with open(target + ".part", "w") as f:
                f.write(text)
            os.chmod(target + ".part", 0o644)
            os.replace(target + ".part", target)
        threading.Timer(0.3, drop).start()
        return self.reply(200, {"trans_id": body["trans_id"], "correlationId": cid, "statusCode": "0",
                                "statusReason": "Request accepted; the report will be delivered by FTP"})

    def daily_reads(self, st, body):
        try:
            first = dt.datetime.strptime(body["startDate"], "%m/%d/%Y").date()
            last = dt.datetime.strptime(body["endDate"], "%m/%d/%Y").date()
            esiids = body["esiid"]
            assert isinstance(esiids, list) and esiids and first <= last
        except (KeyError, ValueError, AssertionError):
            return self.reply(400, {"statusCode": "400", "statusReason": "bad startDate, endDate or esiid"})
        today = dt.datetime.now(CENTRAL).date()
        if first >= today:
            return self.reply(200, NOT_YET)
        with st.lock:
            config = dict(st.config)
        reads = []
        day = first
        while day <= min(last, today - dt.timedelta(days=1)):
            if available(day, config):
                reads.append(daily_entry(esiids[0], day, config))
            day += dt.timedelta(days=1)
        if not reads:
            return self.reply(200, NOT_YET)
        return self.reply(200, {"trans_id": body["trans_id"], "esiid": esiids[0], "registeredReads": reads})

    def interval_reads(self, st, body):
        try:
            first = dt.datetime.strptime(body["startDate"], "%m/%d/%Y").date()
            last = dt.datetime.strptime(body["endDate"], "%m/%d/%Y").date()
            esiids = body["esiid"]
            assert isinstance(esiids, list) and esiids and first <= last
        except (KeyError, ValueError, AssertionError):
            return self.reply(400, {"statusCode": "400", "statusReason": "bad startDate, endDate or esiid"})
        if body.get("deliveryMode", "API") == "FTP" and self.server.drop_dir:
            return self.interval_file(st, body, first, last, esiids)
        if body.get("deliveryMode", "API") != "API":
            return self.reply(400, {"statusCode": "400", "statusReason": "deliveryMode must be API or FTP"})
        today = dt.datetime.now(CENTRAL).date()
        if first >= today:
            return self.reply(200, NOT_YET)
        with st.lock:
            config = dict(st.config)
        entries = []
        day = first
        while day <= min(last, today - dt.timedelta(days=1)):
            if not available(day, config):
                day += dt.timedelta(days=1)
                continue
            for esiid in esiids:
                entries.append(day_entry(esiid, day, "C", config))
                wants_generation = body.get("readingType") == "A" and config["generation"]
                if wants_generation and int(hashlib.sha256(esiid.encode()).hexdigest(), 16) % 2 == 0:
                    entries.append(day_entry(esiid, day, "G", config))
            day += dt.timedelta(days=1)
        if not entries:
            return self.reply(200, NOT_YET)
        reply = {"trans_id": body["trans_id"], "esiid": esiids[0], "energyData": entries}
        if config.get("extra_keys"):
            # fields a newer SMT might add
            reply["dataVersion"] = "2"
            for e in entries:
                e["UOM"] = "KWH"
        return self.reply(200, reply)


class Server(http.server.ThreadingHTTPServer):
    def deliver(self, st, day, numbers):
        """Drops `day`'s file of each active subscription (or those numbered) into the drop
        directory: SMT's interval or daily CSV of every ESIID with an active agreement. Returns the
        names dropped."""
        if not self.drop_dir:
            return []
        with st.lock:
            config = dict(st.config)
            esiids = sorted({a["esiid"] for a in st.agreements.values() if st.agreement_status(a)[0] == "ACTIVE"})
            subs = [(n, dict(b)) for n, b in st.subscriptions.items()
                    if not b["cancelled"] and (numbers is None or n in numbers)]
        dropped = []
        for number, sub in subs:
            if sub["deliveryMode"] != "FTP" or sub["reportFormat"] != "CSV" or not available(day, config):
                continue
            if sub["dataType"] == "INTERVAL":
                lines = ["ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,"
                         "ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION"]
                for esiid in esiids:
                    lines.extend(csv_rows(esiid, day, "C", config))
                name = f"IntervalMeterUsage_{number}_{day:%Y%m%d}.CSV.{sub['requesterAuthenticationID']}"
            elif sub["dataType"] == "DAILY":
                lines = ["ESIID,READ_DATE,REVISION_DATE,START_READING,END_READING,USAGE_KWH"]
                for esiid in esiids:
                    d = daily_entry(esiid, day, config)
                    lines.append(f"'{esiid},{d['readDate']},{d['revisionDate']},{d['startReading']},"
                                 f"{d['endReading']},{d['energyDataKwh']}")
                name = f"DailyMeterUsage_{number}_{day:%Y%m%d}.CSV.{sub['requesterAuthenticationID']}"
            else:
                continue
            target = os.path.join(self.drop_dir, name)
            with open(target + ".part", "w") as f:
                f.write("\r\n".join(lines) + "\r\n")
            os.chmod(target + ".part", 0o644)
            os.replace(target + ".part", target)
            dropped.append(name)
        return dropped


def csv_rows(esiid, day, channel, config):
    """The day as SMT's interval CSV rows: local start and end times, the same values as RD."""
    entry = day_entry(esiid, day, channel, {**config, "rd_layout": "sequential"})
    start = dt.datetime(day.year, day.month, day.day, tzinfo=CENTRAL).astimezone(dt.timezone.utc)
    direction = "Consumption" if channel == "C" else "Surplus Generation"
    rows = []
    for i, v in enumerate(entry["RD"].split(",")):
        a = (start + dt.timedelta(minutes=15 * i)).astimezone(CENTRAL).strftime("%H:%M")
        b = (start + dt.timedelta(minutes=15 * (i + 1))).astimezone(CENTRAL).strftime("%H:%M")
        kwh, flag = v.rsplit("-", 1) if v else ("", "")
        rows.append(f"'{esiid},{entry['DT']},{entry['RevTS']},{a},{b},{kwh},{flag},{direction}")
    return rows


def daily_entry(esiid, day, config):
    """One register read: the day's kWh is the sum of its consumption intervals, exactly."""
    entry = day_entry(esiid, day, "C", config)
    milli = sum(int(v.split("-")[0].replace(".", "")) for v in entry["RD"].split(",") if v and v.split("-")[0])
    # the register only moves forward: 500 kWh of room a day (a day of this data is at most 480)
    start = 10_000_000 + (day.toordinal() % 10_000) * 500_000 + int(hashlib.sha256(esiid.encode()).hexdigest(), 16) % 1000
    end = start + milli
    kwh = lambda m: f"{m // 1000}.{m % 1000:03d}"
    return {"readDate": entry["DT"], "revisionDate": entry["RevTS"], "startReading": kwh(start),
            "endReading": kwh(end), "energyDataKwh": kwh(milli)}


def pki(d):
    if os.path.exists(f"{d}/server.pem"):
        return
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True)
    run("openssl", "req", "-x509", *ec, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem", "-days", "2",
        "-subj", "/CN=smt api test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", *ec, "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr", "-subj", "/CN=127.0.0.1")
    with open(f"{d}/server.ext", "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", f"{d}/server.ext", "-out", f"{d}/server.pem")
    for f in ("server.csr", "server.ext"):
        os.remove(f"{d}/{f}")


def main():
    d = sys.argv[1]
    args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
    os.makedirs(d, exist_ok=True)
    pki(d)
    password = os.environ[args.get("--password-env", "SMT_API_PASSWORD")]
    server = Server(("127.0.0.1", 0), Handler)
    server.state = State(args.get("--user", "SIMSERVICE"), password)
    server.drop_dir = args.get("--drop-dir")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{d}/server.pem", f"{d}/server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(f"{d}/port.tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(f"{d}/port.tmp", f"{d}/port")
    server.serve_forever()


if __name__ == "__main__":
    main()
