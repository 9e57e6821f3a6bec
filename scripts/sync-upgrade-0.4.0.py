#!/usr/bin/env python3
"""Keeps the unreleased 0.3.0 -> 0.4.0 upgrade script in step with sql/extension/.

While 0.4.0 is unreleased its upgrade script holds copies of whole files and functions of
sql/extension/ (a release freezes it, and this script goes with it). Run after changing them and
after `make install-dev` (the pgrx-generated function definitions are read from the installed
smt--0.4.0.sql):

    python3 scripts/sync-upgrade-0.4.0.py [FUNCTION ...]

Without arguments it rewrites the whole-file sections (8 requests.sql, 11 meters.sql with
smt.delivery_loaded, 12 monthly.sql, 13 reports.sql + export.sql, 14 citus.sql after the reject key) and the grants of those files at
the end (section 15). With function names it replaces each one's CREATE ... COMMENT block by the
one in load.sql, schema.sql, jobs.sql or daily.sql. The upgrade test (tests/tests/upgrade.rs) checks the
result against a fresh install.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPGRADE = os.path.join(ROOT, 'extension/sql/smt--0.3.0--0.4.0.sql')
INSTALLED = '/usr/share/postgresql/15/extension/smt--0.4.0.sql'


def src(name):
    return open(os.path.join(ROOT, 'sql/extension', name)).read()


def block(text, name):
    """(start, end, or_replace) of a function's CREATE through its COMMENT ON, or None."""
    m = re.search(r'^CREATE (OR REPLACE )?FUNCTION smt\."?%s"?\(' % re.escape(name), text, re.M)
    if not m:
        return None
    c = re.search(r"^COMMENT ON FUNCTION smt\.\"?%s\"?\(.*?';\n" % re.escape(name),
                  text[m.start():], re.M | re.S)
    return m.start(), m.start() + c.end(), bool(m.group(1))


def generated(name):
    """A pgrx function's definition as cargo-pgrx wrote it into the installed script."""
    text = open(INSTALLED).read()
    m = re.search(r'^CREATE  FUNCTION "%s"\(.*?_wrapper\';\n' % re.escape(name), text, re.M | re.S)
    if not m:
        sys.exit(f'{name} is not in {INSTALLED}: run make install-dev first')
    return m.group(0).replace(f'CREATE  FUNCTION "{name}"(', f'CREATE FUNCTION smt."{name}"(', 1)


def replace_section(s, start_marker, end_marker, body):
    i = s.index(start_marker)
    j = s.index(end_marker)
    head_end = s.index('\n', i) + 1
    while s[head_end:].startswith('--    '):
        head_end = s.index('\n', head_end) + 1
    return s[:head_end] + body.rstrip('\n') + '\n\n' + s[j:]


def sync_functions(up, names):
    sources = src('load.sql') + src('schema.sql') + src('jobs.sql') + src('daily.sql')
    for name in names:
        s, u = block(sources, name), block(up, name)
        if s is None or u is None:
            sys.exit(f'{name}: not found in sql/extension or in the upgrade script')
        body = sources[s[0]:s[1]]
        if u[2] and not s[2]:
            body = body.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION', 1)
        up = up[:u[0]] + body + up[u[1]:]
        print('synced', name)
    return up


def sync_sections(up):
    jobs = src('jobs.sql')
    b = block(jobs, 'delivery_loaded')
    delivery_loaded = ('\n-- A delivery loaded fulfils the requests waiting for it (deliveryMode FTP).\n'
                       + jobs[b[0]:b[1]].replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION', 1))
    up = replace_section(up, '-- 8. Requests', '-- 9. SFTP sites', src('requests.sql'))
    up = replace_section(up, '-- 11. Meters enrolled', '-- 12. Monthly', src('meters.sql') + delivery_loaded)
    up = replace_section(up, '-- 12. Monthly', '-- 13. Reports',
                         generated('_monthly_records') + src('monthly.sql'))
    up = replace_section(up, '-- 13. Reports', '-- 14. Citus',
                         generated('_day_hours') + src('reports.sql') + '\n'
                         + generated('_green_button_feed') + src('export.sql'))
    citus = up[up.index('-- 14. Citus'):up.index('-- 15. Rights')]
    keys = citus[:citus.index('CREATE INDEX reject_id_idx')]
    keys += citus[len(keys):].split('\n', 1)[0] + '\n'
    up = up.replace(citus, keys + '\n' + src('citus.sql').rstrip('\n') + '\n\n')
    roles = src('roles.sql')
    tail_old = up[up.index('REVOKE EXECUTE ON FUNCTION smt.request_claim(text, text, interval),'):]
    requests = roles[roles.index('REVOKE EXECUTE ON FUNCTION smt.request_claim(text, text, interval),'):
                     roles.index('-- Enrolled meters (meters.sql)')]
    meters = roles[roles.index('REVOKE EXECUTE ON FUNCTION smt.meter_claim('):
                   roles.index('-- END scheduler API grants')]
    daily = [l for l in tail_old.splitlines(True) if ('daily_read' in l or '_daily_records' in l)]
    reports = ('smt.monthly_usage, smt.monthly_usage_version, smt.monthly_usage_summary, smt.meter_check,\n'
               '    smt.meter_check_failures, smt.estimates_replaced, smt.hourly_usage, smt.hourly_profile, smt.hourly_load_shape')
    tail_new = (requests + ''.join(daily) + meters
                + 'GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON smt.meter, smt.meter_status, smt.meter_read, smt.subscription TO smt_admin;\n'
                + 'GRANT USAGE ON SEQUENCE smt.subscription_subscription_id_seq TO smt_admin;\n'
                + 'REVOKE EXECUTE ON FUNCTION smt._monthly_records(bigint, boolean), smt._merge_monthly(bigint, boolean) FROM PUBLIC;\n'
                + f'GRANT SELECT ON {reports} TO smt_reader;\n'
                + f'GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON {reports} TO smt_admin;\n'
                + 'GRANT USAGE ON SEQUENCE smt.monthly_usage_version_version_id_seq TO smt_admin;\n'
                + 'GRANT EXECUTE ON FUNCTION smt.green_button(text, date, date) TO smt_reader;\n'
                + 'REVOKE EXECUTE ON FUNCTION smt.distribute(integer) FROM PUBLIC;\n')
    return up.replace(tail_old, tail_new)


def main():
    up = open(UPGRADE).read()
    up = sync_functions(up, sys.argv[1:]) if len(sys.argv) > 1 else sync_sections(up)
    open(UPGRADE, 'w').write(up)


if __name__ == '__main__':
    main()
