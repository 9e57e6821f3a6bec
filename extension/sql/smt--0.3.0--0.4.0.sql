-- smt 0.3.0 -> 0.4.0. Frozen once released, like every script in extension/sql: a later change
-- ships as its own smt--0.4.0--X.sql. tests/tests/upgrade.rs proves that this script turns a
-- 0.3.0 (0.2.0, 0.1.0) database holding data into exactly the schema of a fresh 0.4.0 install,
-- rows intact.
--
-- What 0.4.0 changes (issue 9, speed at Texas scale):
--   * A day whose units all fit 16 bits (the usual one) is stored in the new column units16
--     (2 bytes an interval instead of 4); units keeps the days that need 32 bits. Rows stored
--     before stay as they are (either column is read).
--   * smt.day_total keeps each ESIID-day's totals, written by the load; smt.daily_usage reads them
--     instead of unnesting every interval. Filled here from the stored days.
--   * The merge inserts days nobody has stored without deciding anything, and decides the others
--     by comparing revisions (smt._decide only for equal ones); staging rows come from
--     smt._stage_records, which adds the 16-bit units and the totals.
--   * smt.file_content compresses with lz4 instead of pglz (new parts; parts kept before stay).
--   * smt.interval unnests the arrays instead of indexing them per interval.
--   * A loader may parse reports itself and copy the rows into smt.stage (binary COPY, INSERT
--     only), then smt.load_staged checks every row and merges them: the smt scheduler loads this
--     way. Rows are settled among themselves (smt._settle_stage) before they meet storage.
--   * Loads no longer wait for each other (the load lock is gone): the same content waits on a
--     lock on its digest; two loads changing the same ESIID-channel-day at once end with one of
--     them undone (serialization_failure, the worker loads it again); new partitions and the
--     data guard are made under a lock of their own (smt._lock_schema_change).
--   * Replies of today's SMT JSON API to /v2/15minintervalreads/ (interval_json) load like LSE
--     and CSV reports.
--   * smt.request: requests for data made to SMT (smt.request_usage), sent by the worker's new
--     job kind smt_api, with their fate (smt.request_log).
--   * Job kind sftp_fetch: SMT's SFTP delivery.
--   * Daily meter reads (SMT's daily CSV, the API's dailyreads) load into smt.daily_read.
--   * Meters enrolled from SQL (smt.enroll, smt.meter_status): the agreement flow of SMT's API.
--   * smt.delivery_content keeps deliveries as received (smt.delivery_keep, smt.delivery_bytes).
--   * smt.interval_version is keyed (esiid, version_id), so that it distributes by ESIID.


-- 1. 16-bit units.
ALTER TABLE smt.interval_day ADD COLUMN units16 smallint[];
ALTER TABLE smt.interval_day DROP CONSTRAINT interval_day_check;
ALTER TABLE smt.interval_day ADD CONSTRAINT interval_day_values CHECK (num_nonnulls(units16, units, kwh_exact) = 1);
COMMENT ON COLUMN smt.interval_day.units16 IS 'Interval values as scaled integers, in time order, when they all fit 16 bits (the usual day); NULL element = missing interval.';
COMMENT ON COLUMN smt.interval_day.units IS 'Interval values as scaled integers, in time order, for a day whose units need 32 bits; NULL element = missing interval.';
ALTER TABLE smt.interval_version ADD COLUMN units16 smallint[];
-- Keyed by ESIID first, so that the table distributes by ESIID unchanged (Citus).
ALTER TABLE smt.interval_version DROP CONSTRAINT interval_version_pkey;
ALTER TABLE smt.interval_version ADD PRIMARY KEY (esiid, version_id);
ALTER TABLE smt.interval_version ADD CONSTRAINT interval_version_values CHECK (num_nonnulls(units16, units, kwh_exact) = 1);
COMMENT ON COLUMN smt.interval_version.units16 IS 'Interval values as scaled integers when they all fit 16 bits (NULL element = missing).';
COMMENT ON COLUMN smt.interval_version.units IS 'Interval values as scaled integers needing 32 bits (NULL element = missing).';

-- 2. Raw parts compress with lz4.
ALTER TABLE smt.file_content ALTER COLUMN data SET COMPRESSION lz4;
COMMENT ON COLUMN smt.file_content.data IS 'This part of the file exactly as given to smt.load or smt.load_part (at most 8 MiB).';

-- 3. Day totals, with a partition for every month that holds data, filled from the stored days.
-- One row per ESIID and operating day with the day's totals, kept by the load whenever a version
-- of the day's load (channel 4) or generation (channel 1) becomes current: daily and monthly
-- figures read one narrow row per meter-day instead of unnesting 96 intervals (smt.daily_usage).
-- Partitioned by month of operating day like smt.interval_day (partitions made together by
-- smt._ensure_partitions, each with its own primary key for the same reason, and a BRIN index
-- on day: a day's rows are written together, so "every meter on day D" reads only their blocks).
CREATE TABLE smt.day_total (
    esiid               text NOT NULL,
    day                 date NOT NULL,
    channels            smallint NOT NULL CHECK (channels BETWEEN 1 AND 3),
    import_kwh          numeric,
    export_kwh          numeric,
    intervals_expected  smallint NOT NULL,
    intervals_present   smallint NOT NULL,
    intervals_estimated smallint NOT NULL,
    peak_kw             numeric,
    peak_start          timestamptz
) PARTITION BY RANGE (day);
COMMENT ON TABLE smt.day_total IS 'Totals of each ESIID-operating day''s current versions (load and generation), kept by smt.load: what smt.daily_usage reads.';
COMMENT ON COLUMN smt.day_total.esiid IS 'ESIID (normalized).';
COMMENT ON COLUMN smt.day_total.day IS 'Operating day, Central prevailing time.';
COMMENT ON COLUMN smt.day_total.channels IS 'Which channels the day has: 1 load (channel 4), 2 generation (channel 1), 3 both.';
COMMENT ON COLUMN smt.day_total.import_kwh IS 'Sum of the current channel 4 (consumption) intervals, exact; NULL when it has none with a value.';
COMMENT ON COLUMN smt.day_total.export_kwh IS 'Sum of the current channel 1 (surplus generation) intervals, exact; NULL without generation data.';
COMMENT ON COLUMN smt.day_total.intervals_expected IS 'Intervals the day has at the channel 4 interval length (96, or 92 / 100 on DST days at 15 minutes); the channel 1 length when there is no channel 4 data.';
COMMENT ON COLUMN smt.day_total.intervals_present IS 'Channel 4 intervals with a value.';
COMMENT ON COLUMN smt.day_total.intervals_estimated IS 'Channel 4 intervals marked E (estimated).';
COMMENT ON COLUMN smt.day_total.peak_kw IS 'The day''s largest channel 4 interval as demand in kW (its kWh × intervals an hour), exact; NULL without a value.';
COMMENT ON COLUMN smt.day_total.peak_start IS 'When that interval began (the first, if the peak repeats).';

SELECT pg_catalog.pg_extension_config_dump('smt.day_total', '');

-- Loads run concurrently (see load.sql), so the objects a load may have to make (a month's
-- partitions, the data guard) are made under an advisory lock of their own, held to the end of
-- the transaction; the caller makes the object only if it is still missing once the lock is held
-- (another load may have made it meanwhile: the check reads pg_class with a fresh snapshot, not
-- the caches).
CREATE FUNCTION smt._lock_schema_change(relname text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'), hashtext('smt schema change'));
    RETURN NOT EXISTS (SELECT FROM pg_class c
                        WHERE c.relnamespace = 'smt'::regnamespace AND c.relname = _lock_schema_change.relname);
END
$$;
COMMENT ON FUNCTION smt._lock_schema_change(text) IS 'Takes the lock under which loads make objects (partitions, the data guard) and says whether the named relation of schema smt is still missing. Internal to smt.load.';

CREATE OR REPLACE FUNCTION smt._ensure_partitions(months date[]) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    month date;
    part text;
    made integer := 0;
BEGIN
    FOR month IN SELECT DISTINCT date_trunc('month', m)::date FROM unnest(months) m WHERE m IS NOT NULL ORDER BY 1
    LOOP
        part := format('interval_day_%s', to_char(month, 'YYYY_MM'));
        IF to_regclass(format('smt.%I', part)) IS NULL AND smt._lock_schema_change(part) THEN
            EXECUTE format(
                'CREATE TABLE smt.%I PARTITION OF smt.interval_day FOR VALUES FROM (%L) TO (%L)',
                part, month, (month + interval '1 month')::date);
            EXECUTE format('ALTER TABLE smt.%I ADD PRIMARY KEY (esiid, channel, day)', part);
            EXECUTE format('COMMENT ON TABLE smt.%I IS %L', part,
                format('smt.interval_day rows for operating days in %s.', to_char(month, 'YYYY-MM')));
            made := made + 1;
        END IF;
        part := format('day_total_%s', to_char(month, 'YYYY_MM'));
        IF to_regclass(format('smt.%I', part)) IS NULL AND smt._lock_schema_change(part) THEN
            EXECUTE format(
                'CREATE TABLE smt.%I PARTITION OF smt.day_total FOR VALUES FROM (%L) TO (%L)',
                part, month, (month + interval '1 month')::date);
            EXECUTE format('ALTER TABLE smt.%I ADD PRIMARY KEY (esiid, day)', part);
            EXECUTE format('CREATE INDEX %I ON smt.%I USING brin (day) WITH (autosummarize = on)',
                           part || '_day_brin', part);
            EXECUTE format('COMMENT ON TABLE smt.%I IS %L', part,
                format('smt.day_total rows for operating days in %s.', to_char(month, 'YYYY-MM')));
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END
$$;
COMMENT ON FUNCTION smt._ensure_partitions(date[]) IS 'Creates the monthly partitions of smt.interval_day and smt.day_total for the given months that do not exist yet; returns how many it made. Internal to smt.load.';

SELECT smt._ensure_partitions(array_agg(DISTINCT date_trunc('month', d.day)::date)) FROM smt.interval_day d;
-- Partitions are data, not extension members (see smt._ensure_partitions): the ones made by this
-- script would otherwise become members.
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
                 WHERE i.inhparent = 'smt.day_total'::regclass
    LOOP
        EXECUTE format('ALTER EXTENSION smt DROP TABLE %s', part);
    END LOOP;
END
$$;
-- Each day's peak: its largest load interval, as demand.
-- Demand of one interval: its energy spread over an hour. SMT's interval lengths divide the hour,
-- so the factor is a whole number and the kW keep the kWh's exact digits (0.580 kWh in 15 minutes
-- is 2.320 kW).
CREATE FUNCTION smt._demand_kw(kwh numeric, interval_seconds integer) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN 3600 % interval_seconds = 0 THEN kwh * (3600 / interval_seconds)
            ELSE kwh * 3600 / interval_seconds END;
COMMENT ON FUNCTION smt._demand_kw(numeric, integer) IS 'kW of an interval of interval_seconds holding kwh: exact when the length divides the hour, as SMT''s all do.';

CREATE FUNCTION smt."_day_peak"(
	"scale" smallint, /* i16 */
	"units16" smallint[], /* :: std :: option :: Option < Vec < Option < i16 > > > */
	"units" INT[], /* :: std :: option :: Option < Vec < Option < i32 > > > */
	"kwh_exact" NUMERIC[] /* :: std :: option :: Option < Vec < Option < AnyNumeric > > > */
) RETURNS INT /* Option < i32 > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_day_peak_wrapper';
COMMENT ON FUNCTION smt._day_peak(smallint, smallint[], integer[], numeric[]) IS '1-based position of a stored day''s largest value (the first if it repeats), from its storage columns; NULL without any value. Used for the peaks kept in smt.day_total.';

INSERT INTO smt.day_total (esiid, day, channels, import_kwh, export_kwh, intervals_expected,
                           intervals_present, intervals_estimated, peak_kw, peak_start)
SELECT d.esiid, d.day,
       bit_or(CASE d.channel WHEN 4 THEN 1 ELSE 2 END)::smallint,
       min(k.kwh) FILTER (WHERE d.channel = 4),
       min(k.kwh) FILTER (WHERE d.channel = 1),
       coalesce(min(smt.day_slots(d.day, d.interval_seconds)) FILTER (WHERE d.channel = 4),
                min(smt.day_slots(d.day, d.interval_seconds))),
       coalesce(min(k.present) FILTER (WHERE d.channel = 4), 0),
       coalesce(min(k.estimated) FILTER (WHERE d.channel = 4), 0),
       min(smt._demand_kw(smt.kwh(d.units[p.i], d.scale, d.kwh_exact[p.i]), d.interval_seconds))
           FILTER (WHERE d.channel = 4),
       min(d.first_start + make_interval(secs => (p.i - 1) * d.interval_seconds)) FILTER (WHERE d.channel = 4)
  FROM smt.interval_day d
 CROSS JOIN LATERAL (
       SELECT sum(smt.kwh(d.units[i], d.scale, d.kwh_exact[i])) AS kwh,
              count(*) FILTER (WHERE substr(d.status, i, 1) <> '-') AS present,
              count(*) FILTER (WHERE substr(d.status, i, 1) = 'E') AS estimated
         FROM generate_series(1, length(d.status)) i) k
 -- 0.3.0 stored every day in units or kwh_exact (units16 is new)
 CROSS JOIN LATERAL (SELECT smt._day_peak(d.scale, NULL, d.units, d.kwh_exact) AS i) p
 WHERE d.channel IN (1, 4)
 GROUP BY d.esiid, d.day;

-- 4. Staging with 16-bit units and totals.
CREATE FUNCTION smt."_stage_records"(
	"file_id" bigint, /* i64 */
	"lenient_esiid" bool /* bool */
) RETURNS TABLE (
	"role" TEXT,  /* & '_ str */
	"esiid" TEXT,  /* Option < String > */
	"channel" smallint,  /* Option < i16 > */
	"day" date,  /* Option < Date > */
	"revision" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"first_start" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"interval_seconds" INT,  /* Option < i32 > */
	"scale" smallint,  /* Option < i16 > */
	"units16" smallint[],  /* :: std :: option :: Option < Vec < Option < i16 > > > */
	"units" INT[],  /* :: std :: option :: Option < Vec < Option < i32 > > > */
	"kwh_exact" TEXT[],  /* :: std :: option :: Option < Vec < Option < String > > > */
	"status" TEXT,  /* Option < String > */
	"transaction_id" TEXT,  /* Option < String > */
	"kwh_total" TEXT,  /* Option < String > */
	"intervals_expected" smallint,  /* Option < i16 > */
	"intervals_present" smallint,  /* Option < i16 > */
	"intervals_estimated" smallint,  /* Option < i16 > */
	"line" bigint,  /* i64 */
	"field" TEXT,  /* Option < String > */
	"kind" TEXT,  /* Option < String > */
	"reason" TEXT,  /* Option < String > */
	"raw" TEXT  /* Option < String > */
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_stage_records_wrapper';
COMMENT ON FUNCTION smt._stage_file(bigint, boolean) IS 'Staging rows of a file kept in smt.file_content in the shape smt 0.3.0 loaded them (kept for databases not yet updated to this version''s SQL): one per record (role record) or bad record (role reject), in file order, parsed a part at a time as the rows are read (bounded memory).';
COMMENT ON FUNCTION smt._stage_records(bigint, boolean) IS 'Staging rows of a file kept in smt.file_content: one per record (role record, with its values in 16-bit units when they fit and its totals) or bad record (role reject), in file order, parsed a part at a time as the rows are read (bounded memory). smt.stage has its columns. Internal to smt.load_end.';
DROP TABLE smt.stage;
CREATE UNLOGGED TABLE smt.stage AS
SELECT NULL::bigint AS file_id, s.*, NULL::text AS decision, NULL::bigint AS decided_against
  FROM smt._stage_records(NULL::bigint, false) s
  WITH NO DATA;
-- No index: each load empties its rows before committing, so the table only ever holds the loads
-- in progress, and every step reads all of its own rows (an index cost 10% per load).
COMMENT ON TABLE smt.stage IS 'Staging rows of the load in progress (written and emptied by smt.load only, inside the loading transaction; never granted).';
COMMENT ON COLUMN smt.stage.file_id IS 'The file being loaded (smt.file).';
COMMENT ON COLUMN smt.stage.role IS 'record (a good record), reject (a bad one), superseded or identical (settled within the file); foreign for a row under this load''s id that this load''s transaction did not write (ignored).';
COMMENT ON COLUMN smt.stage.esiid IS 'ESIID of a record.';
COMMENT ON COLUMN smt.stage.channel IS 'Channel of a record.';
COMMENT ON COLUMN smt.stage.day IS 'Operating day of a record.';
COMMENT ON COLUMN smt.stage.revision IS 'Revision of a record.';
COMMENT ON COLUMN smt.stage.first_start IS 'Start of the first interval of a record.';
COMMENT ON COLUMN smt.stage.interval_seconds IS 'Interval length of a record.';
COMMENT ON COLUMN smt.stage.scale IS 'Decimal scale of units.';
COMMENT ON COLUMN smt.stage.units16 IS 'Values as scaled integers, when they all fit 16 bits.';
COMMENT ON COLUMN smt.stage.units IS 'Values as scaled integers needing 32 bits.';
COMMENT ON COLUMN smt.stage.kwh_total IS 'Sum of the record''s values, exact (decimal text); NULL when it has none.';
COMMENT ON COLUMN smt.stage.intervals_expected IS 'Intervals the record''s operating day has at its interval length (96, or 92 / 100 on DST days).';
COMMENT ON COLUMN smt.stage.intervals_present IS 'Intervals of the record with a value.';
COMMENT ON COLUMN smt.stage.intervals_estimated IS 'Intervals of the record marked E.';
COMMENT ON COLUMN smt.stage.kwh_exact IS 'Values as decimal text when they do not fit units.';
COMMENT ON COLUMN smt.stage.status IS 'One character per interval: A, E or -.';
COMMENT ON COLUMN smt.stage.transaction_id IS 'LSE transaction id.';
COMMENT ON COLUMN smt.stage.decided_against IS 'The file of the stored version a decision was made against: the merge replaces that version only if it is still the stored one.';
COMMENT ON COLUMN smt.stage.line IS '1-based line in the file.';
COMMENT ON COLUMN smt.stage.field IS 'Field at fault (rejects).';
COMMENT ON COLUMN smt.stage.kind IS 'Kind of problem (rejects).';
COMMENT ON COLUMN smt.stage.reason IS 'What is wrong (rejects).';
COMMENT ON COLUMN smt.stage.raw IS 'Text of the offending line (rejects).';
COMMENT ON COLUMN smt.stage.decision IS 'What the merge decided for a record whose day was stored (NULL: the day was not stored and the record was inserted; stored while it is being decided): replace, replace_conflict, keep, keep_conflict, identical; in_file_conflict for a version that lost to one of the same revision in the same file.';

-- A fresh install grants the admin every table, then takes the staging table back.
GRANT SELECT ON smt.stage TO smt_admin;
REVOKE ALL ON smt.stage FROM smt_admin;
GRANT INSERT ON smt.stage TO smt_loader;

CREATE FUNCTION smt."_staged_problem"(
	"day" date, /* Option < Date > */
	"interval_seconds" INT, /* Option < i32 > */
	"scale" smallint, /* Option < i16 > */
	"units16" smallint[], /* :: std :: option :: Option < Vec < Option < i16 > > > */
	"units" INT[], /* :: std :: option :: Option < Vec < Option < i32 > > > */
	"kwh_exact" TEXT[], /* :: std :: option :: Option < Vec < Option < String > > > */
	"status" TEXT, /* Option < String > */
	"kwh_total" TEXT, /* Option < String > */
	"intervals_expected" smallint, /* Option < i16 > */
	"intervals_present" smallint, /* Option < i16 > */
	"intervals_estimated" smallint /* Option < i16 > */
) RETURNS TEXT /* Option < String > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_staged_problem_wrapper';
COMMENT ON FUNCTION smt._staged_problem(date, integer, smallint, smallint[], integer[], text[], text, text, smallint, smallint, smallint) IS 'What is wrong with a record a loader staged itself (its values, statuses and totals must agree and fill the day); NULL when it holds together. Internal to smt.load_staged.';
CREATE FUNCTION smt._apply_day_totals(file_id bigint, month date) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    part text := format('day_total_%s', to_char(month, 'YYYY_MM'));
BEGIN
    -- Load (channel 4) first, then generation (channel 1): one statement per channel, since a
    -- statement may not upsert a row twice, and each ESIID-day has one current version per
    -- channel (the file's repeats are settled), so neither needs grouping.
    -- The day's peak: its largest interval (found by smt._day_peak, one call a day), as kW.
    EXECUTE format($sql$
        INSERT INTO smt.%I AS t (esiid, day, channels, import_kwh, export_kwh, intervals_expected,
                                 intervals_present, intervals_estimated, peak_kw, peak_start)
        SELECT s.esiid, s.day, 1, s.kwh_total::numeric, NULL, s.intervals_expected,
               s.intervals_present, s.intervals_estimated,
               smt._demand_kw(smt.kwh(coalesce(s.units16[p.i], s.units[p.i]), s.scale, s.kwh_exact[p.i]::numeric),
                              s.interval_seconds),
               s.first_start + make_interval(secs => (p.i - 1) * s.interval_seconds)
          FROM smt.stage s
         CROSS JOIN LATERAL (SELECT smt._day_peak(s.scale, s.units16, s.units, s.kwh_exact::numeric[]) AS i) p
         WHERE s.file_id = $1 AND s.role = 'record' AND s.channel = 4
           AND s.day >= $2 AND s.day < ($2 + interval '1 month')
           AND (s.decision IS NULL OR s.decision IN ('replace', 'replace_conflict'))
        ON CONFLICT (esiid, day) DO UPDATE SET
            channels = t.channels | 1,
            import_kwh = excluded.import_kwh,
            intervals_expected = excluded.intervals_expected,
            intervals_present = excluded.intervals_present,
            intervals_estimated = excluded.intervals_estimated,
            peak_kw = excluded.peak_kw,
            peak_start = excluded.peak_start
    $sql$, part)
    USING file_id, month;
    -- A day with generation only counts its intervals at the generation's length, all missing
    -- from the load's point of view, until load data comes.
    EXECUTE format($sql$
        INSERT INTO smt.%I AS t (esiid, day, channels, import_kwh, export_kwh, intervals_expected,
                                 intervals_present, intervals_estimated)
        SELECT s.esiid, s.day, 2, NULL, s.kwh_total::numeric, s.intervals_expected, 0, 0
          FROM smt.stage s
         WHERE s.file_id = $1 AND s.role = 'record' AND s.channel = 1
           AND s.day >= $2 AND s.day < ($2 + interval '1 month')
           AND (s.decision IS NULL OR s.decision IN ('replace', 'replace_conflict'))
        ON CONFLICT (esiid, day) DO UPDATE SET
            channels = t.channels | 2,
            export_kwh = excluded.export_kwh
    $sql$, part)
    USING file_id, month;
END
$$;
COMMENT ON FUNCTION smt._apply_day_totals(bigint, date) IS 'Writes into smt.day_total the totals of the versions that a file''s merge made current in one month. Internal to smt.load.';

-- The part of a merge that needs only the load's own staged rows, done before registering:
-- records no real delivery can hold become rejects, and a day the file holds more than once keeps
-- one version (the others are superseded or identical repeats).
CREATE FUNCTION smt._settle_stage(stage_id bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- Records no real delivery can hold are rejected with their reason, not stored: an operating
    -- day before 2000 or after tomorrow (a stray year would also make a partition for it), or a
    -- revision from the future (it would win against every real correction of that day).
    UPDATE smt.stage s
       SET role = 'reject',
           field = CASE WHEN s.day < date '2000-01-01' OR s.day > smt._tomorrow() THEN 'day' ELSE 'revision' END,
           kind = CASE WHEN s.day < date '2000-01-01' OR s.day > smt._tomorrow() THEN 'day_out_of_range'
                       ELSE 'revision_in_future' END,
           reason = CASE WHEN s.day < date '2000-01-01' OR s.day > smt._tomorrow()
                         THEN format('operating day %s is outside 2000-01-01 .. %s (tomorrow, Central time)', s.day, smt._tomorrow())
                         ELSE format('revision %s is later than now', s.revision) END,
           raw = format('ESIID %s, channel %s, day %s, revision %s', s.esiid, s.channel, s.day, s.revision)
     WHERE s.file_id = stage_id AND s.role = 'record'
       AND (s.day < date '2000-01-01' OR s.day > smt._tomorrow() OR s.revision > now() + interval '1 hour');

    -- A file may hold several versions of one day (SMT's "all versions" reports). Core's rule is a
    -- total order, so exactly one staged version of each day beats or equals all the others: the
    -- rest are superseded (older or losing) or identical repeats of an earlier line.
    IF NOT EXISTS (SELECT FROM smt.stage s WHERE s.file_id = stage_id AND s.role = 'record'
                    GROUP BY s.esiid, s.channel, s.day HAVING count(*) > 1) THEN
        RETURN;
    END IF;
    WITH dup AS (
        SELECT s.esiid, s.channel, s.day FROM smt.stage s
         WHERE s.file_id = stage_id AND s.role = 'record'
         GROUP BY s.esiid, s.channel, s.day HAVING count(*) > 1
    ), staged AS (
        SELECT s.* FROM smt.stage s JOIN dup USING (esiid, channel, day)
         WHERE s.file_id = stage_id AND s.role = 'record'
    ), pairs AS (
        SELECT s.line, o.line AS other_line,
               smt._decide(s.revision, s.scale, coalesce(s.units16::integer[], s.units), s.kwh_exact::numeric[], s.status,
                           o.revision, o.scale, coalesce(o.units16::integer[], o.units), o.kwh_exact::numeric[], o.status) AS other_vs_this
          FROM staged s
          JOIN staged o ON o.esiid = s.esiid AND o.channel = s.channel AND o.day = s.day AND o.line <> s.line
    ), verdict AS (
        SELECT p.line,
               bool_or(p.other_vs_this IN ('replace', 'replace_conflict')) AS beaten,
               bool_or(p.other_vs_this = 'replace_conflict') AS beaten_in_conflict,
               bool_or(p.other_vs_this = 'identical' AND p.other_line < p.line) AS repeated
          FROM pairs p GROUP BY p.line
    )
    UPDATE smt.stage s
       SET role = CASE WHEN v.beaten THEN 'superseded' ELSE 'identical' END,
           -- a version that lost to another of the same revision in the same file is a conflict
           decision = CASE WHEN v.beaten_in_conflict THEN 'in_file_conflict' END
      FROM verdict v
     WHERE s.file_id = stage_id AND s.role = 'record' AND s.line = v.line
       AND (v.beaten OR v.repeated);
END
$$;
COMMENT ON FUNCTION smt._settle_stage(bigint) IS
'Settles a load''s staged rows among themselves before they meet storage: out-of-range records become rejects, and of a day staged more than once one version stays a record. Internal to smt.load.';

CREATE OR REPLACE FUNCTION smt._guard_meter_data() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF to_regclass('smt.meter_data_guard') IS NULL
       AND smt._lock_schema_change('meter_data_guard') THEN
        CREATE VIEW smt.meter_data_guard WITH (security_invoker = true) AS
        SELECT count(*) AS files, max(f.loaded_at) AS last_loaded_at FROM smt.file f;
        COMMENT ON VIEW smt.meter_data_guard IS
            'Exists while smt holds meter data: it makes DROP EXTENSION smt fail unless CASCADE is given, so the data is never dropped by accident. Dump the database first (pg_dump keeps every row), then DROP EXTENSION smt CASCADE to drop the data too.';
        COMMENT ON COLUMN smt.meter_data_guard.files IS 'Files registered in smt.file.';
        COMMENT ON COLUMN smt.meter_data_guard.last_loaded_at IS 'When the last file was registered.';
        GRANT SELECT ON smt.meter_data_guard TO smt_reader;
    END IF;
END
$$;
COMMENT ON FUNCTION smt._guard_meter_data() IS 'Makes the view smt.meter_data_guard (not an extension member) if it is missing, so that DROP EXTENSION smt needs CASCADE while data is held. Called by smt.load.';

-- Undoes a load that raced another one over the same data (see the top of this file): the
-- caller loads the file again, against what is stored then.
CREATE FUNCTION smt._raced_unless(consistent boolean, file_id bigint, what text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT consistent THEN
        RAISE EXCEPTION 'smt.load: file % raced another load: %', _raced_unless.file_id, what
            USING ERRCODE = 'serialization_failure',
                  DETAIL = 'Two loads changed the same ESIID-channel-day at the same time; nothing of this load was kept.',
                  HINT = 'Load the file again (the smt worker does so by itself): it is then decided against what the other load stored.';
    END IF;
END
$$;
COMMENT ON FUNCTION smt._raced_unless(boolean, bigint, text) IS 'Raises serialization_failure (40001) for a load that raced another over the same ESIID-channel-day, unless consistent. Internal to smt.load.';

CREATE OR REPLACE FUNCTION smt._merge_stage(file_id bigint) RETURNS smt.load_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result smt.load_result;
    months date[];
    month date;
    decided bigint;
    -- the caller's planner settings, restored after the statements whose plans are pinned
    planner text[];
    insert_first boolean;
    sampled bigint;
    -- staged records still to store (settled within the file, not rejected)
    current_records bigint;
    expected bigint;
    written bigint;
BEGIN
    INSERT INTO smt.reject (file_id, line, field, kind, reason, raw, esiid, channel, day)
    SELECT _merge_stage.file_id, s.line, s.field, s.kind, s.reason, s.raw, s.esiid, s.channel, s.day
      FROM smt.stage s WHERE s.file_id = _merge_stage.file_id AND s.role = 'reject' ORDER BY s.line;

    SELECT array_agg(DISTINCT date_trunc('month', s.day)::date) FILTER (WHERE s.role = 'record'),
           count(*) FILTER (WHERE s.role IN ('record', 'superseded', 'identical')),
           count(*) FILTER (WHERE s.role IN ('superseded', 'identical')),
           count(*) FILTER (WHERE s.role = 'reject'),
           count(*) FILTER (WHERE s.role = 'record')
      INTO months, result.records, result.stale, result.rejected, current_records
      FROM smt.stage s WHERE s.file_id = _merge_stage.file_id;
    PERFORM smt._ensure_partitions(months);

    -- Days nobody has stored are inserted outright: no decision, no second look-up (the insert's
    -- own key check finds the stored ones, which are marked 'stored'). A file of days mostly
    -- stored already (a day sent again, revised) goes the other way round: each record is looked
    -- up and decided first, and only the days not found are inserted, so no insert is tried in
    -- vain. The first records of the file say which. The staging table has no statistics (its
    -- rows live inside one transaction), so the plans are pinned: a hash anti-join of the staged
    -- rows against what was inserted (never a nested loop that rescans it per row), and look-ups
    -- by key into storage (never a scan of a partition per row).
    planner := ARRAY[current_setting('enable_nestloop'), current_setting('enable_seqscan'),
                     current_setting('enable_hashjoin'), current_setting('enable_mergejoin')];
    PERFORM set_config('enable_seqscan', 'off', true);
    PERFORM set_config('enable_hashjoin', 'off', true);
    PERFORM set_config('enable_mergejoin', 'off', true);
    -- (the sample's size, then how many of it are stored by an inner join: on Citus, where
    -- smt.interval_day is distributed, a correlated EXISTS is refused and an outer join pulls every
    -- stored day's key to the coordinator; an inner join sends the sample to the shards instead,
    -- tests/citus/FINDINGS.md. The key makes it match at most once a record.)
    SELECT count(*) INTO sampled
      FROM (SELECT FROM smt.stage s WHERE s.file_id = _merge_stage.file_id AND s.role = 'record' LIMIT 64) s;
    SELECT count(*) * 2 <= sampled
      INTO insert_first
      FROM (SELECT s.esiid, s.channel, s.day FROM smt.stage s
             WHERE s.file_id = _merge_stage.file_id AND s.role = 'record' LIMIT 64) s
      JOIN smt.interval_day d ON d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day;
    PERFORM set_config('enable_seqscan', planner[2], true);
    PERFORM set_config('enable_hashjoin', planner[3], true);
    PERFORM set_config('enable_mergejoin', planner[4], true);

    IF insert_first THEN
        PERFORM set_config('enable_nestloop', 'off', true);
        WITH inserted AS (
            INSERT INTO smt.interval_day (esiid, channel, day, revision, first_start, interval_seconds, scale,
                                          units16, units, kwh_exact, status, transaction_id, file_id)
            SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale,
                   s.units16, s.units, s.kwh_exact::numeric[], s.status, s.transaction_id, _merge_stage.file_id
              FROM smt.stage s
             WHERE s.file_id = _merge_stage.file_id AND s.role = 'record'
            ON CONFLICT DO NOTHING
            RETURNING esiid, channel, day
        )
        UPDATE smt.stage s SET decision = 'stored'
         WHERE s.file_id = _merge_stage.file_id AND s.role = 'record'
           AND NOT EXISTS (SELECT FROM inserted i WHERE i.esiid = s.esiid AND i.channel = s.channel AND i.day = s.day);
        GET DIAGNOSTICS decided = ROW_COUNT;
        PERFORM set_config('enable_nestloop', planner[1], true);
    END IF;

    IF decided > 0 OR NOT insert_first THEN
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('enable_hashjoin', 'off', true);
        PERFORM set_config('enable_mergejoin', 'off', true);
        -- Each record whose day is stored, against the stored version: a newer or older revision
        -- by comparison, the full rule (smt._decide) only for an equal one.
        UPDATE smt.stage s
           SET decision = CASE
                   WHEN s.revision > d.revision THEN 'replace'
                   WHEN s.revision < d.revision THEN 'keep'
                   ELSE smt._decide(d.revision, d.scale, coalesce(d.units16::integer[], d.units), d.kwh_exact, d.status,
                                    s.revision, s.scale, coalesce(s.units16::integer[], s.units), s.kwh_exact::numeric[], s.status)
               END,
               decided_against = d.file_id
          FROM smt.interval_day d
         WHERE s.file_id = _merge_stage.file_id AND s.role = 'record'
           AND (s.decision = 'stored' OR NOT insert_first)
           AND d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day;
        expected := decided;
        GET DIAGNOSTICS decided = ROW_COUNT;
        IF insert_first THEN
            -- every day found stored by the insert is decided (none vanished meanwhile)
            PERFORM smt._raced_unless(decided = expected, _merge_stage.file_id,
                                      'a stored day it found was removed by another transaction meanwhile');
        END IF;
        IF NOT insert_first THEN
            -- The days not found are new, unless another load has just stored one of them.
            INSERT INTO smt.interval_day (esiid, channel, day, revision, first_start, interval_seconds, scale,
                                          units16, units, kwh_exact, status, transaction_id, file_id)
            SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale,
                   s.units16, s.units, s.kwh_exact::numeric[], s.status, s.transaction_id, _merge_stage.file_id
              FROM smt.stage s
             WHERE s.file_id = _merge_stage.file_id AND s.role = 'record' AND s.decision IS NULL
            ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS written = ROW_COUNT;
            PERFORM smt._raced_unless(written = current_records - decided, _merge_stage.file_id,
                                      'a day it found not stored was stored by another load meanwhile');
        END IF;
    END IF;

    IF decided > 0 THEN
        -- Stored versions that lose move to history before being overwritten: the version each
        -- decision was made against (if another load replaced it meanwhile, the update below
        -- finds out and the load is undone).
        INSERT INTO smt.interval_version (esiid, channel, day, revision, first_start, interval_seconds, scale, units16,
                                          units, kwh_exact, status, transaction_id, file_id, loaded_at, outcome,
                                          decided_by_file_id)
        SELECT d.esiid, d.channel, d.day, d.revision, d.first_start, d.interval_seconds, d.scale, d.units16,
               d.units, d.kwh_exact, d.status, d.transaction_id, d.file_id, d.loaded_at,
               CASE s.decision WHEN 'replace' THEN 'replaced' ELSE 'conflict_lost' END, _merge_stage.file_id
          FROM smt.stage s
          JOIN smt.interval_day d ON d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day
                                 AND d.file_id = s.decided_against
         WHERE s.file_id = _merge_stage.file_id AND s.decision IN ('replace', 'replace_conflict');
        GET DIAGNOSTICS expected = ROW_COUNT;

        -- Winners over a stored version overwrite it in place, if it is still the version decided
        -- against: a row another load changed since is rechecked by the UPDATE after that load
        -- commits, and no longer matches.
        UPDATE smt.interval_day d
           SET revision = s.revision, first_start = s.first_start, interval_seconds = s.interval_seconds,
               scale = s.scale, units16 = s.units16, units = s.units, kwh_exact = s.kwh_exact::numeric[],
               status = s.status, transaction_id = s.transaction_id, file_id = _merge_stage.file_id, loaded_at = now()
          FROM smt.stage s
         WHERE s.file_id = _merge_stage.file_id AND s.decision IN ('replace', 'replace_conflict')
           AND d.esiid = s.esiid AND d.channel = s.channel AND d.day = s.day AND d.file_id = s.decided_against;
        GET DIAGNOSTICS written = ROW_COUNT;
        PERFORM smt._raced_unless(
            written = expected AND expected = (SELECT count(*) FROM smt.stage s
                                                 WHERE s.file_id = _merge_stage.file_id
                                                   AND s.decision IN ('replace', 'replace_conflict')),
            _merge_stage.file_id, 'a stored day it replaces was changed by another load meanwhile');
    END IF;
    PERFORM set_config('enable_seqscan', planner[2], true);
    PERFORM set_config('enable_hashjoin', planner[3], true);
    PERFORM set_config('enable_mergejoin', planner[4], true);

    -- Incoming versions that lose are kept too: every version received is somewhere.
    IF decided > 0 OR result.stale > 0 THEN
        INSERT INTO smt.interval_version (esiid, channel, day, revision, first_start, interval_seconds, scale, units16,
                                          units, kwh_exact, status, transaction_id, file_id, loaded_at, outcome,
                                          decided_by_file_id)
        SELECT s.esiid, s.channel, s.day, s.revision, s.first_start, s.interval_seconds, s.scale, s.units16,
               s.units, s.kwh_exact::numeric[], s.status, s.transaction_id, _merge_stage.file_id, now(),
               CASE WHEN s.role = 'superseded' THEN 'superseded_in_file'
                    WHEN s.decision = 'keep' THEN 'stale' ELSE 'conflict_lost' END,
               _merge_stage.file_id
          FROM smt.stage s
         WHERE s.file_id = _merge_stage.file_id AND (s.role = 'superseded' OR s.decision IN ('keep', 'keep_conflict'));
    END IF;

    -- The day totals of every version that became current (inserted or replacing), per month
    -- partition (an upsert needs the partition's own key).
    FOREACH month IN ARRAY coalesce(months, '{}') LOOP
        PERFORM smt._apply_day_totals(_merge_stage.file_id, month);
    END LOOP;

    IF decided > 0 OR result.stale > 0 THEN
        SELECT _merge_stage.file_id, f.format, false, NULL::text, result.records,
               count(*) FILTER (WHERE s.role = 'record' AND s.decision IS NULL),
               count(*) FILTER (WHERE s.decision IN ('replace', 'replace_conflict')),
               count(*) FILTER (WHERE s.decision IN ('keep', 'keep_conflict') OR s.role = 'superseded'),
               count(*) FILTER (WHERE s.decision = 'identical' OR s.role = 'identical'),
               count(*) FILTER (WHERE s.decision IN ('replace_conflict', 'keep_conflict', 'in_file_conflict')),
               result.rejected
          INTO result
          FROM smt.file f
          LEFT JOIN smt.stage s ON s.file_id = f.file_id
         WHERE f.file_id = _merge_stage.file_id
         GROUP BY f.format;
    ELSE
        -- Every record was a day nobody had stored.
        result := ROW(_merge_stage.file_id, (SELECT f.format FROM smt.file f WHERE f.file_id = _merge_stage.file_id),
                      false, NULL, result.records, result.records, 0, 0, 0, 0, result.rejected)::smt.load_result;
    END IF;

    UPDATE smt.file f
       SET state = 'loaded', records = result.records, inserted = result.inserted,
           replaced = result.replaced, stale = result.stale, identical = result.identical,
           conflicts = result.conflicts, rejected = result.rejected
     WHERE f.file_id = _merge_stage.file_id;
    DELETE FROM smt.stage s WHERE s.file_id = _merge_stage.file_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION smt._merge_stage(bigint) IS
'Merges the staged rows of a file registered by smt.load into storage with the replacement rule; returns the counts also stored in smt.file. Internal to smt.load.';

-- Registers the file of a load in progress under the SHA-256 of its content, or finds it
-- registered: the result's already_loaded says the same content was loaded before (the result is
-- then final: every count 0, and what this load brought is dropped); otherwise its file_id is the
-- file to load into (the load's own id, or the first id of content that failed before) and the
-- counts are NULL. Two loads of the same content are serialized by a lock on its digest.
CREATE FUNCTION smt._register_upload(u smt.upload, sha256 bytea, size_bytes bigint, format text)
RETURNS smt.load_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    existing record;
    result smt.load_result;
BEGIN
    DELETE FROM smt.upload x WHERE x.upload_id = u.upload_id;
    -- Only loads of the same content wait for each other here (the lock lasts until commit).
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'), hashtext(encode(_register_upload.sha256, 'hex')));
    SELECT f.file_id, f.state = 'loaded' AS loaded INTO existing FROM smt.file f WHERE f.sha256 = _register_upload.sha256;
    IF NOT FOUND THEN
        PERFORM smt._guard_meter_data();
        INSERT INTO smt.file (file_id, name, sha256, size_bytes, format, loaded_by)
        OVERRIDING SYSTEM VALUE
        VALUES (u.upload_id, u.file_name, _register_upload.sha256, _register_upload.size_bytes,
                _register_upload.format, u.uploaded_by);
        RETURN ROW(u.upload_id, _register_upload.format, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::smt.load_result;
    END IF;
    -- The same content was given before and its bytes (or rows) are kept: this copy goes.
    DELETE FROM smt.file_content c WHERE c.file_id = u.upload_id;
    IF existing.loaded THEN
        DELETE FROM smt.stage s WHERE s.file_id = u.upload_id;
        -- This load did nothing, so every count is 0 (smt.file keeps what the first load did):
        -- totals over many loads never count a file twice.
        SELECT f.file_id, f.format, true, f.error, 0, 0, 0, 0, 0, 0, 0
          INTO result FROM smt.file f WHERE f.file_id = existing.file_id;
        RAISE NOTICE 'smt.load: % has the same content as file % already loaded; nothing changed',
            u.file_name, existing.file_id;
        RETURN result;
    END IF;
    -- Content that failed before (a format this version could not load then) is tried again
    -- under its first registration; only loaded content counts as already loaded.
    UPDATE smt.file f SET state = 'loading', error = NULL, format = _register_upload.format
     WHERE f.file_id = existing.file_id;
    UPDATE smt.stage s SET file_id = existing.file_id WHERE s.file_id = u.upload_id;
    RETURN ROW(existing.file_id, _register_upload.format, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::smt.load_result;
END
$$;
COMMENT ON FUNCTION smt._register_upload(smt.upload, bytea, bigint, text) IS 'Registers the file of a load in progress by its SHA-256 (or finds the same content registered before) under a lock on that digest. Internal to smt.load_end and smt.load_staged.';

CREATE OR REPLACE FUNCTION smt.load_begin(file_name text, lenient_esiid boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    upload bigint;
BEGIN
    IF file_name IS NULL OR lenient_esiid IS NULL THEN
        RAISE EXCEPTION 'smt.load_begin needs the file''s name and lenient_esiid, neither of them NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Call smt.load_begin(''name'') or smt.load_begin(''name'', true).';
    END IF;
    -- Loads begun in transactions that ended without smt.load_end are forgotten. Their parts did
    -- not survive: parts need the file row smt.load_end makes, checked at commit.
    DELETE FROM smt.upload x WHERE pg_xact_status(x.xact) IS DISTINCT FROM 'in progress';
    -- So are staged rows no load in progress owns (a loader may copy rows and commit without
    -- ending its load). Rows of loads still in progress elsewhere are not visible here.
    DELETE FROM smt.stage s WHERE NOT EXISTS (SELECT FROM smt.upload x WHERE x.upload_id = s.file_id);
    INSERT INTO smt.upload (upload_id, file_name, lenient_esiid, uploaded_by, xact)
    VALUES (nextval(pg_get_serial_sequence('smt.file', 'file_id')), file_name, lenient_esiid,
            -- session_user: inside SECURITY DEFINER current_user is the owner, not the loader.
            session_user, pg_current_xact_id())
    RETURNING smt.upload.upload_id INTO upload;
    RETURN upload;
END
$$;
COMMENT ON FUNCTION smt.load_begin(text, boolean) IS
'Begins loading a file of any size in parts: returns the handle to give smt.load_part (once per part, in order) and smt.load_end, all in this transaction. smt.load(bytea, name) does all three for a file in one piece.';

CREATE OR REPLACE FUNCTION smt.load_end(upload_id bigint) RETURNS smt.load_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u smt.upload;
    content record;
    detected text;
    result smt.load_result;
BEGIN
    IF upload_id IS NULL THEN
        RAISE EXCEPTION 'smt.load_end needs the load''s id, not NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the id smt.load_begin returned.';
    END IF;
    u := smt._upload(upload_id);
    -- The digest is computed here, from the bytes that are kept.
    SELECT s.* INTO content FROM smt._content_summary(u.upload_id) s;
    detected := smt.detect_format(content.head);
    IF detected IN ('lse', 'interval_csv', 'interval_json', 'green_button') THEN
        -- Parsed and settled before registering, under the load's id.
        INSERT INTO smt.stage SELECT u.upload_id, s.*, NULL, NULL FROM smt._stage_records(u.upload_id, u.lenient_esiid) s;
        PERFORM smt._settle_stage(u.upload_id);
    END IF;
    result := smt._register_upload(u, content.sha256, content.size_bytes, detected);
    IF result.already_loaded THEN
        RETURN result;
    END IF;

    IF detected IN ('daily_csv', 'daily_json') THEN
        RETURN smt._merge_daily(result.file_id, u.lenient_esiid);
    END IF;
    IF detected = 'monthly_csv' THEN
        RETURN smt._merge_monthly(result.file_id, u.lenient_esiid);
    END IF;
    IF detected IS NULL OR detected NOT IN ('lse', 'interval_csv', 'interval_json', 'green_button') THEN
        result.error := CASE WHEN detected IS NULL THEN 'not an LSE or SMT CSV report, nor an SMT API reply (unknown content)'
                             ELSE format('%s reports are not loaded yet (only interval reports, daily meter reads and monthly usage)', detected) END;
        result := ROW(result.file_id, detected, false, result.error, 0, 0, 0, 0, 0, 0, 0)::smt.load_result;
        UPDATE smt.file f SET state = 'failed', error = result.error WHERE f.file_id = result.file_id;
        RAISE WARNING 'smt.load: %: %; kept as file % with state failed', u.file_name, result.error, result.file_id;
        RETURN result;
    END IF;
    RETURN smt._merge_stage(result.file_id);
END
$$;
COMMENT ON FUNCTION smt.load_end(bigint) IS
'Ends a load begun by smt.load_begin: registers the file by the SHA-256 of the bytes received, keeps them, and loads it as smt.load does (same result): interval reports into smt.interval_day, daily meter reads into smt.daily_read. Loading the same content twice changes nothing (already_loaded = true).';

-- The loader's own rows, parsed by the loader: the smt scheduler parses a report with smt-core
-- (the code smt._stage_records runs) and copies the rows into smt.stage under the load's id
-- (binary COPY; the loader may insert into smt.stage, nothing else). Here they are registered
-- under the digest and size the loader computed of the report, checked, and merged like the
-- rows the database parses itself. The report's bytes are not kept in smt.file_content: the
-- delivery they came in is the raw record (see smt.delivery_content).
--
-- What is trusted and what is checked: only rows this transaction wrote count (any other row
-- under the id is dropped); every record must hold together (smt._staged_problem: values,
-- statuses and totals agree, the day is complete) and carry a valid ESIID in the load's mode and
-- a channel, else it becomes a reject saying why. The digest is the loader's word: a loader that
-- lies about it can only make its own report look loaded already.
CREATE FUNCTION smt.load_staged(upload_id bigint, sha256 bytea, size_bytes bigint, format text)
RETURNS smt.load_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u smt.upload;
    result smt.load_result;
BEGIN
    IF upload_id IS NULL OR sha256 IS NULL OR size_bytes IS NULL OR format IS NULL THEN
        RAISE EXCEPTION 'smt.load_staged needs the load''s id, the report''s SHA-256, its size and its format, none of them NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF format NOT IN ('lse', 'interval_csv', 'interval_json', 'green_button') OR octet_length(sha256) <> 32 OR size_bytes < 0 THEN
        RAISE EXCEPTION 'smt.load_staged: % is not an interval report format, or the digest or size is malformed', format
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('format %s, %s-byte digest, size %s', format, octet_length(sha256), size_bytes),
                  HINT = 'Stage LSE or SMT interval CSV reports, SMT API interval replies or Green Button feeds; load any other file with smt.load or smt.load_part.';
    END IF;
    u := smt._upload(upload_id);
    -- Checked and settled before registering, under the load's id. A row another transaction
    -- put under this id is not this load's (foreign: ignored), nor is one that claims a decision
    -- or a role of the merge's; a record that does not hold together becomes a reject saying why.
    UPDATE smt.stage s
       SET role = CASE WHEN s.xmin <> u.xact::xid OR s.decision IS NOT NULL OR s.decided_against IS NOT NULL
                            OR s.role NOT IN ('record', 'reject')
                       THEN 'foreign' ELSE 'reject' END,
           field = coalesce(s.field, 'staged row'),
           kind = coalesce(s.kind, 'invalid_staged_row'),
           reason = coalesce(s.reason,
                             smt._staged_problem(s.day, s.interval_seconds, s.scale, s.units16, s.units, s.kwh_exact,
                                                 s.status, s.kwh_total, s.intervals_expected,
                                                 s.intervals_present, s.intervals_estimated),
                             format('ESIID %s or channel %s is not valid', s.esiid, s.channel)),
           raw = coalesce(s.raw, format('ESIID %s, channel %s, day %s, revision %s', s.esiid, s.channel, s.day, s.revision))
     WHERE s.file_id = u.upload_id
       AND (s.xmin <> u.xact::xid OR s.decision IS NOT NULL OR s.decided_against IS NOT NULL
            OR s.role NOT IN ('record', 'reject')
            OR (s.role = 'reject' AND (s.field IS NULL OR s.kind IS NULL OR s.reason IS NULL OR s.raw IS NULL))
            OR (s.role = 'record'
                AND (s.esiid IS NULL OR s.channel IS NULL OR s.revision IS NULL OR s.first_start IS NULL
                     OR s.channel NOT BETWEEN 1 AND 255
                     OR NOT CASE WHEN u.lenient_esiid THEN s.esiid ~ '^[A-Za-z0-9]{1,64}$'
                                 ELSE smt.esiid_valid(s.esiid) AND s.esiid = smt.esiid_normalize(s.esiid) END
                     OR smt._staged_problem(s.day, s.interval_seconds, s.scale, s.units16, s.units, s.kwh_exact,
                                            s.status, s.kwh_total, s.intervals_expected,
                                            s.intervals_present, s.intervals_estimated) IS NOT NULL)));
    PERFORM smt._settle_stage(u.upload_id);
    result := smt._register_upload(u, sha256, size_bytes, format);
    IF result.already_loaded THEN
        RETURN result;
    END IF;
    RETURN smt._merge_stage(result.file_id);
END
$$;
COMMENT ON FUNCTION smt.load_staged(bigint, bytea, bigint, text) IS
'Ends a load begun by smt.load_begin whose rows the loader copied into smt.stage itself (parsed with smt-core, as the smt scheduler does): registers the report by the SHA-256 and size the loader gives, checks every row (a record that does not hold together becomes a reject saying why) and merges them as smt.load does (same result). The same content twice changes nothing (already_loaded = true).';

-- 5. Views.
CREATE OR REPLACE VIEW smt.interval WITH (security_invoker = true) AS
SELECT d.esiid,
       d.channel,
       d.day,
       d.first_start + make_interval(secs => (v.i - 1) * d.interval_seconds) AS interval_start,
       d.first_start + make_interval(secs => v.i * d.interval_seconds) AS interval_end,
       -- units × 10^-scale, exactly and with the day's scale (580 at scale 3 is 0.580)
       coalesce(v.kwh_exact, coalesce(v.units16, v.units) * f.unit) AS kwh,
       nullif(v.status, '-') AS status,
       d.revision,
       -- Central wall-clock time, as ERCOT and SMT write it (computed only when selected)
       (d.first_start + make_interval(secs => (v.i - 1) * d.interval_seconds)) AT TIME ZONE 'America/Chicago'
           AS interval_start_local,
       (extract(hour FROM (d.first_start + make_interval(secs => (v.i - 1) * d.interval_seconds))
                         AT TIME ZONE 'America/Chicago') + 1)::smallint AS hour_ending
  FROM smt.interval_day d
 -- computed once per day, not per interval
 CROSS JOIN LATERAL (SELECT round(1 / (10::numeric ^ d.scale), d.scale) AS unit) f
 -- one row per status character (every interval, missing ones included); the value arrays are
 -- as long, and only one of them is not NULL
 CROSS JOIN LATERAL unnest(string_to_array(d.status, NULL), d.units16, d.units, d.kwh_exact)
       WITH ORDINALITY AS v(status, units16, units, kwh_exact, i);

COMMENT ON COLUMN smt.interval.interval_start_local IS 'Start of the interval in Central wall-clock time (timestamp without time zone): on the fall-back day the 01:00 hour appears twice, on the spring-forward day 02:00 not at all.';
COMMENT ON COLUMN smt.interval.hour_ending IS 'Hour ending as ERCOT writes it: the Central clock hour the interval starts in, plus one (1 to 24; on the fall-back day both passes of 01:00 are hour 2).';

CREATE OR REPLACE VIEW smt.daily_usage WITH (security_invoker = true) AS
SELECT t.esiid,
       t.day,
       t.import_kwh,
       t.export_kwh,
       coalesce(t.import_kwh, 0) - coalesce(t.export_kwh, 0) AS net_kwh,
       t.intervals_present::integer AS intervals_present,
       t.intervals_estimated::integer AS intervals_estimated,
       (t.intervals_expected - t.intervals_present)::integer AS intervals_missing
  FROM smt.day_total t;
COMMENT ON VIEW smt.daily_usage IS 'Per ESIID and operating day with load (channel 4) or generation (channel 1) data: kWh imported, exported and net, and how many load intervals are present, estimated and missing. Reads the totals kept at load time (smt.day_total), never the intervals.';

-- smt.interval_15min spreads a day of other-length intervals from its own row (routed on Citus).
CREATE OR REPLACE VIEW smt.interval_15min WITH (security_invoker = true) AS
WITH direct AS (
    SELECT i.esiid, i.channel, i.interval_start, i.interval_end, i.kwh
      FROM smt.interval i
      JOIN smt.interval_day d USING (esiid, channel, day)
     WHERE d.interval_seconds = 900
), spread AS (
    -- A day at another interval length, spread over 15-minute slots (smt.normalize_15min). Its
    -- intervals come from the day's own row, as smt.interval computes them, not from a second read
    -- of smt.interval joined to it: Citus does not route such a self-join to the one shard that
    -- holds an ESIID (tests/citus/FINDINGS.md).
    SELECT d.esiid, d.channel, n.interval_start, n.interval_end, n.kwh
      FROM smt.interval_day d
     CROSS JOIN LATERAL (SELECT round(1 / (10::numeric ^ d.scale), d.scale) AS unit) f
     CROSS JOIN LATERAL (
           SELECT array_agg(d.first_start + make_interval(secs => (v.i - 1) * d.interval_seconds) ORDER BY v.i) AS s,
                  array_agg(d.first_start + make_interval(secs => v.i * d.interval_seconds) ORDER BY v.i) AS e,
                  array_agg(coalesce(v.kwh_exact, coalesce(v.units16, v.units) * f.unit) ORDER BY v.i) AS k
             FROM unnest(string_to_array(d.status, NULL), d.units16, d.units, d.kwh_exact)
                  WITH ORDINALITY AS v(status, units16, units, kwh_exact, i)) a
     CROSS JOIN LATERAL smt.normalize_15min(a.s, a.e, a.k) n
     WHERE d.interval_seconds <> 900
), slots AS (
    SELECT * FROM direct UNION ALL SELECT * FROM spread
)
SELECT esiid,
       interval_start,
       interval_end,
       sum(kwh) FILTER (WHERE channel = 4) AS import_kwh,
       sum(kwh) FILTER (WHERE channel = 1) AS export_kwh,
       sum(kwh) FILTER (WHERE channel = 4) - coalesce(sum(kwh) FILTER (WHERE channel = 1), 0) AS net_kwh
  FROM slots
 GROUP BY esiid, interval_start, interval_end;

-- 6. Deliveries kept as received.
-- Deliveries as received (still zipped and encrypted: already compressed, so stored as they are,
-- uncompressed by PostgreSQL), in parts of at most 8 MiB, kept by the worker after loading them
-- when its configuration says so (load.keep_deliveries = "database", the default): the raw record
-- of what SMT sent, off the load's critical path, at about 1-2 bytes per interval.
CREATE TABLE smt.delivery_content (
    remote_file_id bigint NOT NULL REFERENCES smt.remote_file ON DELETE CASCADE,
    part           integer NOT NULL CHECK (part >= 0),
    data           bytea NOT NULL,
    PRIMARY KEY (remote_file_id, part)
);
ALTER TABLE smt.delivery_content ALTER COLUMN data SET STORAGE EXTERNAL;
COMMENT ON TABLE smt.delivery_content IS 'The bytes of each delivery exactly as received (smt.remote_file), in parts: the delivery is its parts'' data in part order. Written by the worker through smt.delivery_keep.';
COMMENT ON COLUMN smt.delivery_content.remote_file_id IS 'The delivery (smt.remote_file).';
COMMENT ON COLUMN smt.delivery_content.part IS 'Position of this part in the delivery, from 0.';
COMMENT ON COLUMN smt.delivery_content.data IS 'This part of the delivery as received (at most 8 MiB); stored uncompressed, since a delivery is compressed already.';

SELECT pg_catalog.pg_extension_config_dump('smt.delivery_content', '');
CREATE FUNCTION smt.delivery_keep(remote_file_id bigint, part integer, data bytea) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF delivery_keep.part IS NULL OR delivery_keep.part < 0 OR delivery_keep.data IS NULL
       OR octet_length(delivery_keep.data) > 8388608 THEN
        RAISE EXCEPTION 'smt.delivery_keep needs a part number from 0 and at most 8 MiB of bytes'
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM smt.remote_file r
                    WHERE r.remote_file_id = delivery_keep.remote_file_id AND r.registered_by = session_user) THEN
        RETURN false;
    END IF;
    INSERT INTO smt.delivery_content (remote_file_id, part, data)
    VALUES (delivery_keep.remote_file_id, delivery_keep.part, delivery_keep.data)
    ON CONFLICT (remote_file_id, part) DO UPDATE SET data = excluded.data;
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.delivery_keep(bigint, integer, bytea) IS
'Keeps one part (at most 8 MiB, numbered from 0) of a delivery of the calling login role as received, in smt.delivery_content; a part kept before is replaced. False (and nothing kept) when the delivery is not theirs.';

CREATE FUNCTION smt.delivery_bytes(remote_file_id bigint) RETURNS bytea
LANGUAGE sql STABLE
RETURN (SELECT string_agg(c.data, '\x'::bytea ORDER BY c.part)
          FROM smt.delivery_content c WHERE c.remote_file_id = delivery_bytes.remote_file_id);
COMMENT ON FUNCTION smt.delivery_bytes(bigint) IS 'The bytes of a kept delivery exactly as received (its parts in smt.delivery_content, in order); NULL when none are kept. For deliveries under 1 GB; needs SELECT on smt.delivery_content.';


-- 7. Replies of SMT's JSON API kept as files load like any interval report (interval_json).
COMMENT ON FUNCTION smt.detect_format(bytea) IS 'The format of a file from its content: lse, interval_csv, daily_csv, monthly_csv, interval_json or daily_json (replies of SMT''s JSON API), green_button (an ESPI Atom feed); NULL when unknown.';
COMMENT ON COLUMN smt.file.format IS 'Format detected from the content: lse, interval_csv, daily_csv, monthly_csv, interval_json, daily_json (SMT API replies), green_button (ESPI feeds); NULL if unknown.';
COMMENT ON COLUMN smt.load_result.format IS 'Format detected from the content: lse, interval_csv, daily_csv, monthly_csv, interval_json, daily_json (SMT API replies), green_button (ESPI feeds); NULL if unknown.';
COMMENT ON COLUMN smt.file_log.format IS 'Detected format (lse, interval_csv, interval_json, ...), NULL if unknown.';

-- 8. Requests for data made to SMT (smt.request, smt.request_usage) and the job kind smt_api
--    that sends them through today's JSON API.
-- Requests for data made to SMT, and their fate: one row per ask, from smt.request_usage until it
-- is fulfilled, fails or is cancelled, readable by anyone with smt_reader (smt.request_log).
-- Today's SMT answers through its JSON API (via 'json', the worker's job kind smt_api); the seeds'
-- SOAP API (via 'soap', job kind soap_api) answers the same rows, at once with a file or later with
-- a file on the FTPS site.
--
-- States:
--   queued     asked, not yet sent;
--   sent       a worker holds it (until lease_until; a worker that died loses it to another);
--   waiting    SMT has no data yet ("No data received from the respective TDSP"), a failure a
--              retry can help (SMT down, a timeout), an on-demand read SMT is still taking, or
--              the day's on-demand reads for the TDSP used up: tried again from not_before;
--              or SMT accepted it and delivers files later (awaiting_files; sent again after
--              10 days without them);
--   fulfilled  every reply loaded (file_ids: the files in smt.file that hold them), or the
--              on-demand read taken (smt.meter_read);
--   failed     SMT refused it, its reply could not be read, or max_attempts were used up;
--   cancelled  by smt.request_cancel.
-- The worker changes a row only through the worker functions below (SECURITY DEFINER, for
-- smt_loader, acting only on requests it claimed); people use smt.request_usage and
-- smt.request_cancel with their own privileges (smt_admin).

CREATE TABLE smt.request (
    request_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    via            text NOT NULL,
    report         text NOT NULL,
    esiids         text[] NOT NULL,
    meter_number   text,
    first_day      date NOT NULL,
    last_day       date NOT NULL,
    state          text NOT NULL DEFAULT 'queued',
    attempts       integer NOT NULL DEFAULT 0,
    max_attempts   integer NOT NULL DEFAULT 10,
    not_before     timestamptz NOT NULL DEFAULT now(),
    trans_id       text,
    correlation_ids text[] NOT NULL DEFAULT '{}',
    awaiting_files text[] NOT NULL DEFAULT '{}',
    sent_at        timestamptz,
    worker         text,
    claimed_by     text,
    lease_until    timestamptz,
    last_error     text,
    file_ids       bigint[] NOT NULL DEFAULT '{}',
    requested_by   text NOT NULL DEFAULT session_user,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    fulfilled_at   timestamptz,
    CONSTRAINT request_via CHECK (via IN ('json', 'soap')),
    CONSTRAINT request_report CHECK (report IN ('interval', 'daily', 'monthly', 'odr')),
    CONSTRAINT request_odr CHECK (report <> 'odr' OR (cardinality(esiids) = 1 AND meter_number IS NOT NULL)),
    CONSTRAINT request_days CHECK (first_day <= last_day),
    CONSTRAINT request_esiids CHECK (cardinality(esiids) BETWEEN 1 AND 50000),
    CONSTRAINT request_state CHECK (state IN ('queued', 'sent', 'waiting', 'fulfilled', 'failed', 'cancelled')),
    CONSTRAINT request_attempts CHECK (attempts >= 0 AND max_attempts > 0)
);
CREATE INDEX request_due_idx ON smt.request (not_before) WHERE state IN ('queued', 'sent', 'waiting');
CREATE INDEX request_odr_sent_idx ON smt.request (sent_at) WHERE report = 'odr';
COMMENT ON TABLE smt.request IS 'Requests for data made to SMT, one row per ask (smt.request_usage), with their fate. Read smt.request_log; the worker changes rows only through the smt.request_* worker functions.';
COMMENT ON COLUMN smt.request.request_id IS 'Identifier of the request, as smt.request_usage returned it.';
COMMENT ON COLUMN smt.request.via IS 'Which SMT interface sends it: json (today''s JSON API, job kind smt_api) or soap (the seeds'' SOAP ad hoc usage API, job kind soap_api).';
COMMENT ON COLUMN smt.request.report IS 'What is asked for: interval (15-minute reads, into smt.interval_day) or daily (daily meter reads, into smt.daily_read), loaded with replacement semantics like any file; monthly (billed usage, into smt.monthly_usage; via soap); odr (an on-demand read of the meter''s register now, into smt.meter_read).';
COMMENT ON COLUMN smt.request.esiids IS 'The ESIIDs asked for, normalized, each once (up to 50,000, SMT''s limit per request; one for odr).';
COMMENT ON COLUMN smt.request.meter_number IS 'For odr: the meter number SMT asks for with the ESIID; NULL otherwise.';
COMMENT ON COLUMN smt.request.first_day IS 'First operating day asked for (Central prevailing time); for odr the day it was asked.';
COMMENT ON COLUMN smt.request.last_day IS 'Last operating day asked for, included; for odr the day it was asked.';
COMMENT ON COLUMN smt.request.state IS 'queued, sent (a worker holds it), waiting (tried again from not_before), fulfilled, failed or cancelled.';
COMMENT ON COLUMN smt.request.attempts IS 'Times a worker has taken it up.';
COMMENT ON COLUMN smt.request.max_attempts IS 'Attempts after which a request that keeps failing in a retryable way is failed.';
COMMENT ON COLUMN smt.request.not_before IS 'When it may be sent (again).';
COMMENT ON COLUMN smt.request.trans_id IS 'The trans_id sent with the last attempt''s calls (smt-<request_id>-<attempt>), to find them in SMT''s records.';
COMMENT ON COLUMN smt.request.correlation_ids IS 'SMT''s correlationIds: of each call SMT answers later with a file, or of an on-demand read polled for.';
COMMENT ON COLUMN smt.request.awaiting_files IS 'While waiting for files SMT delivers later: what the name of each still to come carries (a correlationId, or the name SMT gave); a delivery loaded whose name carries one fulfils that part (smt._fulfil_by_delivery).';
COMMENT ON COLUMN smt.request.sent_at IS 'For odr: when it was sent to SMT (counted against the day''s on-demand reads of its TDSP).';
COMMENT ON COLUMN smt.request.worker IS 'The worker (host:pid) that last took it up.';
COMMENT ON COLUMN smt.request.claimed_by IS 'The login role of that worker.';
COMMENT ON COLUMN smt.request.lease_until IS 'While sent: when another worker may take it over (its worker is presumed dead).';
COMMENT ON COLUMN smt.request.last_error IS 'SMT''s words or the failure of the last attempt; NULL when it had none.';
COMMENT ON COLUMN smt.request.file_ids IS 'The files (smt.file) that hold the replies loaded for it, each once.';
COMMENT ON COLUMN smt.request.requested_by IS 'Login role that asked.';
COMMENT ON COLUMN smt.request.created_at IS 'When it was asked.';
COMMENT ON COLUMN smt.request.updated_at IS 'When its state last changed.';
COMMENT ON COLUMN smt.request.fulfilled_at IS 'When it was fulfilled.';

SELECT pg_catalog.pg_extension_config_dump('smt.request', '');
SELECT pg_catalog.pg_extension_config_dump('smt.request_request_id_seq', '');

INSERT INTO smt.job_kind (kind, description, builtin) VALUES
    ('smt_api', 'Sends the due requests of smt.request (via json) through today''s SMT JSON API (JWT bearer token) and loads every reply like a delivered file. params: source (the name of an [smt_api.NAME] section in the worker''s config file, which holds the API''s address, the service id, the environment variable holding its password, and the DUNS).', true),
    ('soap_api', 'Sends the due requests of smt.request (via soap) through the seeds'' SMT SOAP ad hoc usage API (mutual TLS, WS-Security UsernameToken), split into calls within SMT''s limits: a file answered at once is fetched and loaded, a correlationId answered waits for its file on the FTPS site (loaded by an ftps_fetch job). params: source (the name of a [soap_api.NAME] section in the worker''s config file, which holds the endpoint, the client certificate, the user and the environment variable holding its password).', true);

-- ---------------------------------------------------------------------------------------------
-- Asking (with the caller's own privileges: INSERT on smt.request, smt_admin's).

CREATE FUNCTION smt.request_usage(esiids text[], report text, first_day date, last_day date, via text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    chosen text := coalesce(request_usage.via, nullif(current_setting('smt.request_via', true), ''), 'json');
    bad text;
    normalized text[];
    today date := smt._tomorrow() - 1;
    request bigint;
BEGIN
    IF esiids IS NULL OR report IS NULL OR first_day IS NULL OR last_day IS NULL THEN
        RAISE EXCEPTION 'smt.request_usage needs ESIIDs, a report and the first and last day, none of them NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'SELECT smt.request_usage(ARRAY[''10443720000000001''], ''interval'', date ''2025-09-01'', date ''2025-09-30'');';
    END IF;
    IF chosen NOT IN ('json', 'soap') THEN
        RAISE EXCEPTION 'smt.request_usage: requests via % are not supported', chosen
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Today''s SMT answers through its JSON API (via ''json''); the seeds'' SMT through its SOAP API (via ''soap'').',
                  HINT = 'Leave via NULL (the setting smt.request_via, else json), or pass ''json'' or ''soap''.';
    END IF;
    IF report NOT IN ('interval', 'daily', 'monthly') OR (report = 'monthly' AND chosen <> 'soap') THEN
        RAISE EXCEPTION 'smt.request_usage: report % is not one that can be requested via %', report, chosen
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Ask for ''interval'' (15-minute reads) or ''daily'' (daily meter reads); ''monthly'' (billed usage) via ''soap''.';
    END IF;
    SELECT e INTO bad FROM unnest(esiids) e WHERE e IS NULL OR NOT smt.esiid_valid(e) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'smt.request_usage: % is not a valid ESIID', coalesce(quote_literal(bad), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ESIIDs are 17 or 22 digits starting with a TDSP''s prefix; check them with smt.esiid_valid.';
    END IF;
    SELECT array_agg(DISTINCT smt.esiid_normalize(e)) INTO normalized FROM unnest(esiids) e;
    IF cardinality(normalized) IS NULL OR cardinality(normalized) > 50000 THEN
        RAISE EXCEPTION 'smt.request_usage: % ESIIDs; a request holds 1 to 50,000', coalesce(cardinality(normalized), 0)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Split the ESIIDs over several requests.';
    END IF;
    IF first_day > last_day OR last_day > today
       OR first_day < (today - CASE WHEN report = 'monthly' THEN interval '24 months' ELSE interval '48 months' END)::date THEN
        RAISE EXCEPTION 'smt.request_usage: days % to % are not within the last % months up to today (%)', first_day, last_day,
                        CASE WHEN report = 'monthly' THEN 24 ELSE 48 END, today
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'SMT keeps 15-minute and daily data for 48 months, monthly usage for 24; a day after today has no data yet.',
                  HINT = 'Ask for first_day <= last_day, both between today less 48 (monthly: 24) months and today (Central time).';
    END IF;
    INSERT INTO smt.request (via, report, esiids, first_day, last_day)
    VALUES (chosen, report, normalized, first_day, last_day)
    RETURNING request_id INTO request;
    RETURN request;
END
$$;
COMMENT ON FUNCTION smt.request_usage(text[], text, date, date, text) IS
'Asks SMT for the 15-minute data (report ''interval''), the daily meter reads (''daily'') or, via soap, the monthly billed usage (''monthly'') of ESIIDs over operating days first_day to last_day; returns the request''s id. The smt worker sends it and loads the replies like any file; smt.request_log shows its fate. via: json (today''s JSON API, job kind smt_api) or soap (the seeds'' SOAP API, job kind soap_api, which splits it into calls within SMT''s limits); default the setting smt.request_via, else json. Checked before anything is sent: valid ESIIDs (1 to 50,000), days within the last 48 months (monthly: 24) up to today.';

CREATE FUNCTION smt.request_meter_read(esiid text, meter_number text DEFAULT NULL, via text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    chosen text := coalesce(request_meter_read.via, nullif(current_setting('smt.request_via', true), ''), 'json');
    normalized text;
    meter text := nullif(btrim(request_meter_read.meter_number), '');
    today date := smt._tomorrow() - 1;
    request bigint;
BEGIN
    IF esiid IS NULL OR NOT smt.esiid_valid(esiid) THEN
        RAISE EXCEPTION 'smt.request_meter_read: % is not a valid ESIID', coalesce(quote_literal(esiid), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ESIIDs are 17 or 22 digits starting with a TDSP''s prefix; check them with smt.esiid_valid.';
    END IF;
    IF chosen <> 'json' THEN
        RAISE EXCEPTION 'smt.request_meter_read: on-demand reads via % are not supported', chosen
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'SMT takes on-demand reads through its JSON API (via ''json'').',
                  HINT = 'Leave via NULL, or pass ''json''.';
    END IF;
    normalized := smt.esiid_normalize(esiid);
    IF meter IS NULL THEN
        SELECT m.meter_number INTO meter FROM smt.meter m WHERE m.esiid = normalized;
    END IF;
    IF meter IS NULL THEN
        RAISE EXCEPTION 'smt.request_meter_read: no meter number for ESIID %', normalized
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'SMT asks for the meter number with the ESIID, and the ESIID is not enrolled (smt.meter).',
                  HINT = 'Pass it: SELECT smt.request_meter_read(''10443720000000001'', ''123456789'');';
    END IF;
    INSERT INTO smt.request (via, report, esiids, meter_number, first_day, last_day, max_attempts)
    VALUES (chosen, 'odr', ARRAY[normalized], meter, today, today, 20)
    RETURNING request_id INTO request;
    RETURN request;
END
$$;
COMMENT ON FUNCTION smt.request_meter_read(text, text, text) IS
'Asks SMT to read a meter''s register now (an on-demand read); returns the request''s id. The meter number is the one given, else the enrolled meter''s (smt.meter). The smt worker (job kind smt_api) sends it within the day''s cap of on-demand reads per TDSP (its account''s odr_daily_limit; SMT allows 3,000 a day per TDSP across all callers), polls until SMT has the read, and stores it in smt.meter_read; smt.request_log shows its fate.';

CREATE FUNCTION smt.request_cancel(request_id bigint) RETURNS smt.request
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r smt.request;
BEGIN
    UPDATE smt.request q SET state = 'cancelled', lease_until = NULL, updated_at = now()
     WHERE q.request_id = request_cancel.request_id AND q.state IN ('queued', 'waiting', 'sent')
    RETURNING q.* INTO r;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'smt.request_cancel: no request % that is still to do', request_cancel.request_id
            USING ERRCODE = 'no_data_found',
                  HINT = 'See smt.request_log: fulfilled, failed and cancelled requests stay as they are.';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION smt.request_cancel(bigint) IS 'Cancels a request that is queued, waiting or being sent (a worker holding it stops at its next step); returns it. With the caller''s own privileges (smt_admin).';

-- ---------------------------------------------------------------------------------------------
-- Worker protocol (SECURITY DEFINER, for smt_loader: each acts only on the caller's own claim).

CREATE FUNCTION smt.request_claim(via text, worker text, lease interval) RETURNS SETOF smt.request
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    IF request_claim.via IS NULL OR request_claim.worker IS NULL OR request_claim.lease IS NULL
       OR request_claim.lease <= interval '0' THEN
        RAISE EXCEPTION 'smt.request_claim needs a via, a worker name and a positive lease'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A request whose worker died (or whose run broke off) with its attempts used up is not sent
    -- again: it fails, saying so.
    UPDATE smt.request r
       SET state = 'failed', lease_until = NULL, updated_at = now(),
           last_error = format('taken up %s times without an answer recorded (the worker stopped or its run failed); last: %s',
                               r.attempts, coalesce(r.last_error, 'no error recorded'))
     WHERE r.via = request_claim.via AND r.state = 'sent' AND r.lease_until < now() AND r.attempts >= r.max_attempts;
    RETURN QUERY
    UPDATE smt.request r
       SET state = 'sent', attempts = r.attempts + 1, worker = request_claim.worker,
           claimed_by = session_user, lease_until = now() + request_claim.lease,
           trans_id = format('smt-%s-%s', r.request_id, r.attempts + 1), updated_at = now()
     WHERE r.request_id = (
           SELECT q.request_id FROM smt.request q
            WHERE q.via = request_claim.via
              -- (a request SMT answers with a file later waits for it with not_before infinity)
              AND ((q.state IN ('queued', 'waiting') AND q.not_before <= now())
                   OR (q.state = 'sent' AND q.lease_until < now()))
            ORDER BY q.not_before, q.request_id
            LIMIT 1
              FOR UPDATE SKIP LOCKED)
    RETURNING r.*;
END
$$;
COMMENT ON FUNCTION smt.request_claim(text, text, interval) IS
'Claims the oldest due request sent via via (queued, waiting past not_before, or sent by a worker whose lease expired) for worker (host:pid) and the calling login role, for lease; returns it with its new trans_id, or no row.';

CREATE FUNCTION smt.request_progress(request_id bigint, worker text, lease interval, file_ids bigint[]) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.request r
       SET lease_until = now() + request_progress.lease,
           file_ids = ARRAY(SELECT DISTINCT f FROM unnest(r.file_ids || coalesce(request_progress.file_ids, '{}')) f
                             WHERE f IS NOT NULL ORDER BY f)
     WHERE r.request_id = request_progress.request_id AND r.worker = request_progress.worker
       AND r.claimed_by = session_user AND r.state = 'sent';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.request_progress(bigint, text, interval, bigint[]) IS
'Renews the claim of a request this worker and login role hold and adds the files loaded for it so far. False when it is not theirs any more (taken over, cancelled): the worker stops.';

CREATE FUNCTION smt.request_fulfilled(request_id bigint, worker text, file_ids bigint[]) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.request r
       SET state = 'fulfilled', lease_until = NULL, last_error = NULL, fulfilled_at = now(), updated_at = now(),
           file_ids = ARRAY(SELECT DISTINCT f FROM unnest(r.file_ids || coalesce(request_fulfilled.file_ids, '{}')) f
                             WHERE f IS NOT NULL ORDER BY f)
     WHERE r.request_id = request_fulfilled.request_id AND r.worker = request_fulfilled.worker
       AND r.claimed_by = session_user AND r.state = 'sent';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.request_fulfilled(bigint, text, bigint[]) IS
'Marks a request this worker and login role hold fulfilled, with the files its replies were loaded as. False when it is not theirs.';

CREATE FUNCTION smt.request_retry(request_id bigint, worker text, error text, delay interval) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r smt.request;
BEGIN
    UPDATE smt.request q
       SET state = CASE WHEN q.attempts >= q.max_attempts THEN 'failed' ELSE 'waiting' END,
           not_before = now() + greatest(coalesce(request_retry.delay, interval '0'), interval '0'),
           lease_until = NULL, last_error = request_retry.error, updated_at = now()
     WHERE q.request_id = request_retry.request_id AND q.worker = request_retry.worker
       AND q.claimed_by = session_user AND q.state = 'sent'
    RETURNING q.* INTO r;
    RETURN CASE WHEN FOUND THEN r.state END;
END
$$;
COMMENT ON FUNCTION smt.request_retry(bigint, text, text, interval) IS
'Puts a request this worker and login role hold back to waiting, tried again after delay, with why (SMT has no data yet, or a failure a retry can help); failed instead once max_attempts were used. Returns the new state, or NULL when it is not theirs.';

CREATE FUNCTION smt.request_accepted(request_id bigint, worker text, correlation_id text, poll_after interval)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.request r
       SET state = 'waiting', correlation_ids = ARRAY[request_accepted.correlation_id], lease_until = NULL,
           last_error = NULL, updated_at = now(),
           not_before = now() + greatest(coalesce(request_accepted.poll_after, interval '0'), interval '0')
     WHERE r.request_id = request_accepted.request_id AND r.worker = request_accepted.worker
       AND r.claimed_by = session_user AND r.state = 'sent';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.request_accepted(bigint, text, text, interval) IS
'Records that SMT accepted an on-demand read this worker holds under correlation_id: the request waits poll_after before it is polled. False when it is not theirs.';

-- Whether a delivery's name carries what a request waits for: the text, not followed by a letter
-- or digit (so that a name X.CSV.1 is not found in X.CSV.12).
CREATE FUNCTION smt._file_carries(name text, wanted text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
    SELECT length(wanted) >= 4 AND strpos(name, wanted) > 0
       AND substr(name, strpos(name, wanted) + length(wanted), 1) !~ '[0-9A-Za-z]'
$$;
COMMENT ON FUNCTION smt._file_carries(text, text) IS 'Whether a delivery''s file name carries wanted (a correlationId, or a name SMT gave): found in it and not followed by a letter or digit. Internal to the request functions.';

CREATE FUNCTION smt.request_awaiting_files(request_id bigint, worker text, correlation_ids text[], awaiting text[],
                                           file_ids bigint[])
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r smt.request;
    still text[] := ARRAY(SELECT DISTINCT btrim(a) FROM unnest(coalesce(request_awaiting_files.awaiting, '{}')) a
                           WHERE nullif(btrim(a), '') IS NOT NULL ORDER BY 1);
    early_files bigint[];
BEGIN
    IF EXISTS (SELECT FROM unnest(still) a WHERE length(a) < 4) THEN
        RAISE EXCEPTION 'smt.request_awaiting_files: % is too short to find in a file name', still
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A file SMT already delivered (loaded before this was recorded) counts at once.
    SELECT coalesce(array_agg(DISTINCT f ORDER BY f), '{}') INTO early_files
      FROM smt.remote_file d, unnest(d.file_ids) f
     WHERE d.state = 'loaded' AND EXISTS (SELECT FROM unnest(still) a WHERE smt._file_carries(d.name, a));
    still := ARRAY(SELECT a FROM unnest(still) a
                    WHERE NOT EXISTS (SELECT FROM smt.remote_file d WHERE d.state = 'loaded' AND smt._file_carries(d.name, a))
                    ORDER BY a);
    UPDATE smt.request q
       SET state = CASE WHEN cardinality(still) = 0 THEN 'fulfilled' ELSE 'waiting' END,
           correlation_ids = ARRAY(SELECT DISTINCT c FROM unnest(coalesce(request_awaiting_files.correlation_ids, '{}')) c
                                    WHERE c IS NOT NULL ORDER BY c),
           awaiting_files = still, lease_until = NULL, last_error = NULL, updated_at = now(),
           -- SMT keeps a delivered file 10 days: one not come by then is asked for again
           not_before = CASE WHEN cardinality(still) = 0 THEN q.not_before ELSE now() + interval '10 days' END,
           fulfilled_at = CASE WHEN cardinality(still) = 0 THEN now() END,
           file_ids = ARRAY(SELECT DISTINCT f FROM unnest(q.file_ids || coalesce(request_awaiting_files.file_ids, '{}')
                                                          || early_files) f
                             WHERE f IS NOT NULL ORDER BY f)
     WHERE q.request_id = request_awaiting_files.request_id AND q.worker = request_awaiting_files.worker
       AND q.claimed_by = session_user AND q.state = 'sent'
    RETURNING q.* INTO r;
    RETURN CASE WHEN FOUND THEN r.state END;
END
$$;
COMMENT ON FUNCTION smt.request_awaiting_files(bigint, text, text[], text[], bigint[]) IS
'Records what SMT answered a request this worker holds: the files already loaded (file_ids), SMT''s correlationIds, and what the names of the files it delivers later carry (awaiting: correlationIds, or names SMT gave; a delivery already loaded counts at once). The request waits for those deliveries (smt._fulfil_by_delivery) for up to 10 days (SMT keeps files that long; then it is sent again), or is fulfilled when none is to come. Returns the new state, or NULL when it is not theirs.';

-- A delivery just loaded whose name carries what a request waits for fulfils that part of it
-- (called by smt.delivery_loaded); the request is fulfilled when nothing is left to come.
CREATE FUNCTION smt._fulfil_by_delivery(remote_file_id bigint) RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fulfilled integer;
BEGIN
    WITH delivered AS (
        SELECT q.request_id, r.file_ids,
               ARRAY(SELECT a FROM unnest(q.awaiting_files) a WHERE NOT smt._file_carries(r.name, a) ORDER BY a) AS still
          FROM smt.request q
          JOIN smt.remote_file r ON r.remote_file_id = _fulfil_by_delivery.remote_file_id AND r.state = 'loaded'
         WHERE q.state = 'waiting' AND q.report IN ('interval', 'daily', 'monthly')
           AND EXISTS (SELECT FROM unnest(q.awaiting_files) a WHERE smt._file_carries(r.name, a))
           FOR UPDATE OF q
    )
    UPDATE smt.request q
       SET awaiting_files = d.still, updated_at = now(), last_error = NULL,
           state = CASE WHEN cardinality(d.still) = 0 THEN 'fulfilled' ELSE 'waiting' END,
           fulfilled_at = CASE WHEN cardinality(d.still) = 0 THEN now() END,
           not_before = CASE WHEN cardinality(d.still) = 0 THEN q.not_before ELSE now() + interval '10 days' END,
           file_ids = ARRAY(SELECT DISTINCT f FROM unnest(q.file_ids || d.file_ids) f WHERE f IS NOT NULL ORDER BY f)
      FROM delivered d
     WHERE q.request_id = d.request_id;
    GET DIAGNOSTICS fulfilled = ROW_COUNT;
    RETURN fulfilled;
END
$$;
COMMENT ON FUNCTION smt._fulfil_by_delivery(bigint) IS 'Adds a loaded delivery''s files to every request waiting for a file whose name it carries (a correlationId, or the name SMT gave), and marks fulfilled those with nothing left to come; returns how many requests it changed. Internal to smt.delivery_loaded.';

CREATE FUNCTION smt.request_failed(request_id bigint, worker text, error text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    UPDATE smt.request r
       SET state = 'failed', lease_until = NULL, last_error = request_failed.error, updated_at = now()
     WHERE r.request_id = request_failed.request_id AND r.worker = request_failed.worker
       AND r.claimed_by = session_user AND r.state = 'sent';
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION smt.request_failed(bigint, text, text) IS
'Marks a request this worker and login role hold failed, with SMT''s words or why (a retry cannot help). False when it is not theirs.';

CREATE FUNCTION smt.request_odr_quota(request_id bigint, worker text, daily_limit integer) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r smt.request;
    tdsp text;
    day_start timestamptz := (smt._tomorrow() - 1)::timestamp AT TIME ZONE 'America/Chicago';
    sent_today bigint;
BEGIN
    SELECT q.* INTO r FROM smt.request q
     WHERE q.request_id = request_odr_quota.request_id AND q.worker = request_odr_quota.worker
       AND q.claimed_by = session_user AND q.state = 'sent' AND q.report = 'odr';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    tdsp := coalesce(smt.esiid_tdsp(r.esiids[1]), 'unknown TDSP');
    -- One sender at a time per TDSP, so two workers cannot both take the last read of the day.
    PERFORM pg_advisory_xact_lock(hashtext('smt.odr_quota'), hashtext(tdsp));
    SELECT count(*) INTO sent_today FROM smt.request q
     WHERE q.report = 'odr' AND q.sent_at >= day_start AND q.request_id <> r.request_id
       AND coalesce(smt.esiid_tdsp(q.esiids[1]), 'unknown TDSP') = tdsp;
    IF sent_today < least(greatest(coalesce(daily_limit, 0), 0), 3000) THEN
        UPDATE smt.request q SET sent_at = now() WHERE q.request_id = r.request_id;
        RETURN true;
    END IF;
    -- Used up: wait for the next operating day; the wait is not an attempt.
    UPDATE smt.request q
       SET state = 'waiting', attempts = greatest(q.attempts - 1, 0), lease_until = NULL, updated_at = now(),
           not_before = smt._tomorrow()::timestamp AT TIME ZONE 'America/Chicago',
           last_error = format('the day''s %s on-demand reads for %s are used up (odr_daily_limit); sent tomorrow', daily_limit, tdsp)
     WHERE q.request_id = r.request_id;
    RETURN false;
END
$$;
COMMENT ON FUNCTION smt.request_odr_quota(bigint, text, integer) IS
'Before the worker sends an on-demand read it holds: true, and the read counted as sent now, when fewer than daily_limit on-demand reads went to the ESIID''s TDSP since midnight Central time; otherwise the request waits for the next day (not counted as an attempt, SMT''s words in last_error) and false. SMT allows 3,000 a day per TDSP across all its callers.';

CREATE TABLE smt.meter_read (
    request_id      bigint PRIMARY KEY REFERENCES smt.request,
    esiid           text NOT NULL,
    meter_number    text NOT NULL,
    registered_read numeric NOT NULL,
    read_at         timestamptz,
    smt_read_date   text NOT NULL,
    smt_status      text,
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX meter_read_esiid_idx ON smt.meter_read (esiid, received_at);
COMMENT ON TABLE smt.meter_read IS 'On-demand reads of meters'' registers taken by SMT (smt.request_meter_read), one per request, as SMT sent them.';
COMMENT ON COLUMN smt.meter_read.request_id IS 'The request (smt.request_log) that asked for it.';
COMMENT ON COLUMN smt.meter_read.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.meter_read.meter_number IS 'The meter number it was asked with.';
COMMENT ON COLUMN smt.meter_read.registered_read IS 'The register reading (kWh) exactly as SMT sent it.';
COMMENT ON COLUMN smt.meter_read.read_at IS 'When the meter was read, from SMT''s readDate (Central prevailing time); NULL when SMT''s date could not be read as one.';
COMMENT ON COLUMN smt.meter_read.smt_read_date IS 'readDate as SMT sent it.';
COMMENT ON COLUMN smt.meter_read.smt_status IS 'SMT''s status of the read when it was taken (COMPLETED).';
COMMENT ON COLUMN smt.meter_read.received_at IS 'When the worker stored it.';

SELECT pg_catalog.pg_extension_config_dump('smt.meter_read', '');

CREATE FUNCTION smt.request_read_received(request_id bigint, worker text, registered_read numeric, read_at timestamptz,
                                          smt_read_date text, smt_status text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r smt.request;
BEGIN
    UPDATE smt.request q
       SET state = 'fulfilled', lease_until = NULL, last_error = NULL, fulfilled_at = now(), updated_at = now()
     WHERE q.request_id = request_read_received.request_id AND q.worker = request_read_received.worker
       AND q.claimed_by = session_user AND q.state = 'sent' AND q.report = 'odr'
    RETURNING q.* INTO r;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO smt.meter_read (request_id, esiid, meter_number, registered_read, read_at, smt_read_date, smt_status)
    VALUES (r.request_id, r.esiids[1], r.meter_number, request_read_received.registered_read,
            request_read_received.read_at, request_read_received.smt_read_date, request_read_received.smt_status);
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.request_read_received(bigint, text, numeric, timestamptz, text, text) IS
'Stores the on-demand read SMT took for a request this worker and login role hold (smt.meter_read) and marks the request fulfilled. False when it is not theirs.';

-- ---------------------------------------------------------------------------------------------
-- Reading.

CREATE VIEW smt.request_log WITH (security_invoker = true) AS
SELECT r.request_id, r.via, r.report, cardinality(r.esiids) AS esiid_count, r.esiids, r.meter_number,
       r.first_day, r.last_day, r.state, r.attempts, r.not_before, r.last_error, r.trans_id,
       r.correlation_ids, r.awaiting_files, cardinality(r.file_ids) AS files, r.file_ids, r.requested_by,
       r.created_at, r.fulfilled_at,
       r.state IN ('queued', 'sent', 'waiting')
           AND r.created_at < now() - coalesce(nullif(current_setting('smt.request_overdue_after', true), '')::interval,
                                               interval '2 days') AS overdue
  FROM smt.request r;
COMMENT ON VIEW smt.request_log IS 'Every request made to SMT and its fate, newest last; overdue flags the ones still unfulfilled after the setting smt.request_overdue_after (default 2 days).';
COMMENT ON COLUMN smt.request_log.request_id IS 'Identifier of the request.';
COMMENT ON COLUMN smt.request_log.via IS 'SMT interface that sends it (json or soap).';
COMMENT ON COLUMN smt.request_log.report IS 'What is asked for (interval, daily, monthly, or odr: an on-demand read).';
COMMENT ON COLUMN smt.request_log.esiid_count IS 'How many ESIIDs it asks for.';
COMMENT ON COLUMN smt.request_log.esiids IS 'The ESIIDs it asks for.';
COMMENT ON COLUMN smt.request_log.meter_number IS 'For an on-demand read: the meter number.';
COMMENT ON COLUMN smt.request_log.first_day IS 'First operating day asked for.';
COMMENT ON COLUMN smt.request_log.last_day IS 'Last operating day asked for.';
COMMENT ON COLUMN smt.request_log.state IS 'queued, sent, waiting, fulfilled, failed or cancelled.';
COMMENT ON COLUMN smt.request_log.attempts IS 'Times a worker took it up.';
COMMENT ON COLUMN smt.request_log.not_before IS 'When it is sent (again), while queued or waiting.';
COMMENT ON COLUMN smt.request_log.last_error IS 'SMT''s words or the failure of the last attempt.';
COMMENT ON COLUMN smt.request_log.trans_id IS 'trans_id of the last attempt''s calls.';
COMMENT ON COLUMN smt.request_log.correlation_ids IS 'SMT''s correlationIds, for answers that come later (files, an on-demand read).';
COMMENT ON COLUMN smt.request_log.awaiting_files IS 'What the names of the files still to come carry (correlationIds, or names SMT gave).';
COMMENT ON COLUMN smt.request_log.files IS 'How many files its replies were loaded as.';
COMMENT ON COLUMN smt.request_log.file_ids IS 'Those files (smt.file, smt.file_log).';
COMMENT ON COLUMN smt.request_log.requested_by IS 'Login role that asked.';
COMMENT ON COLUMN smt.request_log.created_at IS 'When it was asked.';
COMMENT ON COLUMN smt.request_log.fulfilled_at IS 'When it was fulfilled.';
COMMENT ON COLUMN smt.request_log.overdue IS 'Still not done after smt.request_overdue_after (default 2 days) from when it was asked.';

-- 9. SFTP sites (SMT's delivery since 2025-09-13): job kind sftp_fetch.
INSERT INTO smt.job_kind (kind, description, builtin) VALUES
    ('sftp_fetch', 'Lists an SMT SFTP site (SMT''s delivery since 2025-09-13; host key checked against the worker''s known_hosts), downloads every file not fetched before (resuming a broken download), decrypts, unzips and loads it. params: source (the name of an [sftp.NAME] site in the worker''s config file, which holds host, user, key or password and known_hosts), dirs (remote directories, default ["/adhocusage", "/EnrollmentReports"]).', true);
COMMENT ON COLUMN smt.job.kind IS 'What the job does: a row of smt.job_kind (sftp_fetch or ftps_fetch: download from an SMT SFTP or FTPS site and load; import_dir: load files from a local directory; smt_api: send requests through SMT''s JSON API; soap_api: through the seeds'' SMT SOAP API).';

-- 10. Daily meter reads (smt.daily_read, with their history), loaded by smt.load.
CREATE FUNCTION smt."_daily_records"(
	"file_id" bigint, /* i64 */
	"lenient_esiid" bool /* bool */
) RETURNS TABLE (
	"role" TEXT,  /* &str */
	"esiid" TEXT,  /* core::option::Option<alloc::string::String> */
	"day" date,  /* core::option::Option<pgrx::datum::date::Date> */
	"revision" timestamp with time zone,  /* core::option::Option<pgrx::datum::time_stamp_with_timezone::TimestampWithTimeZone> */
	"start_reading" NUMERIC,  /* core::option::Option<pgrx::datum::numeric::AnyNumeric> */
	"end_reading" NUMERIC,  /* core::option::Option<pgrx::datum::numeric::AnyNumeric> */
	"usage_kwh" NUMERIC,  /* core::option::Option<pgrx::datum::numeric::AnyNumeric> */
	"line" bigint,  /* i64 */
	"field" TEXT,  /* core::option::Option<alloc::string::String> */
	"kind" TEXT,  /* core::option::Option<alloc::string::String> */
	"reason" TEXT,  /* core::option::Option<alloc::string::String> */
	"raw" TEXT  /* core::option::Option<alloc::string::String> */
)
VOLATILE PARALLEL UNSAFE STRICT
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_daily_records_wrapper';
-- Daily meter reads: one register read per ESIID and day (start and end reading, the day's kWh),
-- from SMT's daily meter read CSV and from replies of today's API (/v2/dailyreads/), loaded by
-- smt.load like interval reports, with the same rule: a newer revision of a day replaces the
-- stored read, an older one changes nothing, and every version received is kept
-- (smt.daily_read_version).
--
-- The rule for a day read again: a later revision wins (a read without a revision counts as the
-- oldest); for equal revisions, the same values are an identical repeat, and different values are
-- a conflict won, whatever the order they arrive in, by the larger end reading (then kWh, then
-- start reading). Daily reads are few (one row per meter-day, not 96), so their merges take one
-- lock of their own and run one at a time.

CREATE TABLE smt.daily_read (
    esiid         text NOT NULL,
    day           date NOT NULL,
    revision      timestamptz,
    start_reading numeric,
    end_reading   numeric,
    usage_kwh     numeric,
    file_id       bigint NOT NULL,
    line          bigint NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (esiid, day)
);
COMMENT ON TABLE smt.daily_read IS 'The current daily meter read of each ESIID and operating day (from SMT''s daily meter read CSV or the API''s dailyreads): one row per ESIID-day, the newest revision received.';
COMMENT ON COLUMN smt.daily_read.esiid IS 'ESIID (normalized).';
COMMENT ON COLUMN smt.daily_read.day IS 'Operating day (Central prevailing time).';
COMMENT ON COLUMN smt.daily_read.revision IS 'When SMT made this version of the read (REVISION_DATE, revisionDate); NULL when the source gave none (then it counts as older than any revision).';
COMMENT ON COLUMN smt.daily_read.start_reading IS 'Register reading at the start of the day, exactly as delivered.';
COMMENT ON COLUMN smt.daily_read.end_reading IS 'Register reading at the end of the day, exactly as delivered.';
COMMENT ON COLUMN smt.daily_read.usage_kwh IS 'The day''s kWh as SMT states it, exactly as delivered.';
COMMENT ON COLUMN smt.daily_read.file_id IS 'The file (smt.file) this read came from.';
COMMENT ON COLUMN smt.daily_read.line IS 'Its line (CSV) or entry (API reply) in that file.';
COMMENT ON COLUMN smt.daily_read.loaded_at IS 'When it became the current read.';

CREATE TABLE smt.daily_read_version (
    version_id         bigint GENERATED ALWAYS AS IDENTITY,
    esiid              text NOT NULL,
    day                date NOT NULL,
    revision           timestamptz,
    start_reading      numeric,
    end_reading        numeric,
    usage_kwh          numeric,
    file_id            bigint NOT NULL,
    line               bigint NOT NULL,
    loaded_at          timestamptz NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('replaced', 'stale', 'conflict_lost', 'superseded_in_file')),
    decided_by_file_id bigint NOT NULL,
    PRIMARY KEY (esiid, version_id)
);
CREATE INDEX daily_read_version_day_idx ON smt.daily_read_version (esiid, day);
COMMENT ON TABLE smt.daily_read_version IS 'Every daily read received that is not the current one, with why: replaced by a newer one, stale on arrival, lost a same-revision conflict, or superseded within its own file.';
COMMENT ON COLUMN smt.daily_read_version.version_id IS 'Identifier of this version.';
COMMENT ON COLUMN smt.daily_read_version.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.daily_read_version.day IS 'Operating day.';
COMMENT ON COLUMN smt.daily_read_version.revision IS 'Revision of this version (NULL: none given).';
COMMENT ON COLUMN smt.daily_read_version.start_reading IS 'Its start reading.';
COMMENT ON COLUMN smt.daily_read_version.end_reading IS 'Its end reading.';
COMMENT ON COLUMN smt.daily_read_version.usage_kwh IS 'Its kWh.';
COMMENT ON COLUMN smt.daily_read_version.file_id IS 'The file it came from.';
COMMENT ON COLUMN smt.daily_read_version.line IS 'Its line or entry in that file.';
COMMENT ON COLUMN smt.daily_read_version.loaded_at IS 'When it was received (or became current, for a replaced one).';
COMMENT ON COLUMN smt.daily_read_version.outcome IS 'replaced (was current, a newer one came), stale (older than the current one on arrival), conflict_lost (same revision, other values, lost the tie-break), superseded_in_file (its file held a newer version of the day).';
COMMENT ON COLUMN smt.daily_read_version.decided_by_file_id IS 'The file whose load decided this.';

COMMENT ON FUNCTION smt._daily_records(bigint, boolean) IS 'Daily meter reads of a file kept in smt.file_content (SMT daily meter read CSV, or a reply of the API''s dailyreads): one row per read (role record) or bad row (role reject, with its ESIID and day when known), in file order. Internal to smt.load.';

SELECT pg_catalog.pg_extension_config_dump('smt.daily_read', '');
SELECT pg_catalog.pg_extension_config_dump('smt.daily_read_version', '');
SELECT pg_catalog.pg_extension_config_dump('smt.daily_read_version_version_id_seq', '');

-- Merges the daily reads of a registered file: rejects recorded, each day's best version of the
-- file decided against the stored one, losers to history, winners stored; the counts go to
-- smt.file and are returned. One statement, so every step sees the same stored rows.
CREATE FUNCTION smt._merge_daily(file_id bigint, lenient_esiid boolean) RETURNS smt.load_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result smt.load_result;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'), hashtext('smt daily reads'));
    WITH staged AS MATERIALIZED (
        SELECT * FROM smt._daily_records(_merge_daily.file_id, _merge_daily.lenient_esiid)
    ), rejected AS (
        INSERT INTO smt.reject (file_id, line, field, kind, reason, raw, esiid, day)
        SELECT _merge_daily.file_id, s.line, s.field, s.kind, s.reason, s.raw, s.esiid, s.day
          FROM staged s WHERE s.role = 'reject'
        RETURNING 1
    ), ranked AS MATERIALIZED (
        -- each day's versions in the file, best first; a later one equal to the best is a repeat
        SELECT s.*, row_number() OVER w AS rank,
               ROW(s.revision, s.start_reading, s.end_reading, s.usage_kwh)::text
                   = first_value(ROW(s.revision, s.start_reading, s.end_reading, s.usage_kwh)::text) OVER w
                   AS same_as_best
          FROM staged s WHERE s.role = 'record'
        WINDOW w AS (PARTITION BY s.esiid, s.day
                     ORDER BY s.revision DESC NULLS LAST, s.end_reading DESC NULLS LAST,
                              s.usage_kwh DESC NULLS LAST, s.start_reading DESC NULLS LAST, s.line)
    ), stored AS MATERIALIZED (
        -- the stored versions of the file's days, by an inner join: on Citus, where smt.daily_read
        -- is distributed, an outer join of the file's rows with it would pull the whole table to
        -- the coordinator; this sends the file's rows to the shards (tests/citus/FINDINGS.md)
        SELECT d.* FROM ranked b JOIN smt.daily_read d ON d.esiid = b.esiid AND d.day = b.day WHERE b.rank = 1
    ), decided AS MATERIALIZED (
        SELECT b.*, d.revision AS stored_revision,
               CASE
                   WHEN d.esiid IS NULL THEN 'insert'
                   WHEN ROW(b.revision, b.start_reading, b.end_reading, b.usage_kwh)
                        IS NOT DISTINCT FROM ROW(d.revision, d.start_reading, d.end_reading, d.usage_kwh) THEN 'identical'
                   WHEN coalesce(b.revision, '-infinity') > coalesce(d.revision, '-infinity') THEN 'replace'
                   WHEN coalesce(b.revision, '-infinity') < coalesce(d.revision, '-infinity') THEN 'keep'
                   WHEN ARRAY[b.end_reading, b.usage_kwh, b.start_reading]::text[]
                        IS NOT DISTINCT FROM ARRAY[d.end_reading, d.usage_kwh, d.start_reading]::text[] THEN 'identical'
                   WHEN (coalesce(b.end_reading, -1e30), coalesce(b.usage_kwh, -1e30), coalesce(b.start_reading, -1e30))
                        > (coalesce(d.end_reading, -1e30), coalesce(d.usage_kwh, -1e30), coalesce(d.start_reading, -1e30))
                       THEN 'replace_conflict'
                   ELSE 'keep_conflict'
               END AS decision
          FROM ranked b LEFT JOIN stored d ON d.esiid = b.esiid AND d.day = b.day
         WHERE b.rank = 1
    ), moved AS (
        INSERT INTO smt.daily_read_version (esiid, day, revision, start_reading, end_reading, usage_kwh, file_id,
                                            line, loaded_at, outcome, decided_by_file_id)
        SELECT d.esiid, d.day, d.revision, d.start_reading, d.end_reading, d.usage_kwh, d.file_id, d.line,
               d.loaded_at, CASE x.decision WHEN 'replace' THEN 'replaced' ELSE 'conflict_lost' END,
               _merge_daily.file_id
          FROM decided x JOIN smt.daily_read d ON d.esiid = x.esiid AND d.day = x.day
         WHERE x.decision IN ('replace', 'replace_conflict')
        RETURNING 1
    ), kept AS (
        INSERT INTO smt.daily_read_version (esiid, day, revision, start_reading, end_reading, usage_kwh, file_id,
                                            line, loaded_at, outcome, decided_by_file_id)
        SELECT x.esiid, x.day, x.revision, x.start_reading, x.end_reading, x.usage_kwh, _merge_daily.file_id,
               x.line, now(), CASE x.decision WHEN 'keep' THEN 'stale' ELSE 'conflict_lost' END, _merge_daily.file_id
          FROM decided x WHERE x.decision IN ('keep', 'keep_conflict')
        UNION ALL
        -- other versions of a day in the same file (not repeats of its best one)
        SELECT r.esiid, r.day, r.revision, r.start_reading, r.end_reading, r.usage_kwh, _merge_daily.file_id,
               r.line, now(), 'superseded_in_file', _merge_daily.file_id
          FROM ranked r
         WHERE r.rank > 1 AND NOT r.same_as_best
        RETURNING 1
    ), written AS (
        INSERT INTO smt.daily_read AS t (esiid, day, revision, start_reading, end_reading, usage_kwh, file_id, line)
        SELECT x.esiid, x.day, x.revision, x.start_reading, x.end_reading, x.usage_kwh, _merge_daily.file_id, x.line
          FROM decided x WHERE x.decision IN ('insert', 'replace', 'replace_conflict')
        ON CONFLICT (esiid, day) DO UPDATE
           SET revision = excluded.revision, start_reading = excluded.start_reading,
               end_reading = excluded.end_reading, usage_kwh = excluded.usage_kwh,
               file_id = excluded.file_id, line = excluded.line,
               loaded_at = excluded.loaded_at -- its default, now(): no function here (Citus)
        RETURNING 1
    )
    SELECT _merge_daily.file_id, f.format, false, NULL::text,
           (SELECT count(*) FROM ranked)::integer,
           (SELECT count(*) FROM decided WHERE decision = 'insert')::integer,
           (SELECT count(*) FROM decided WHERE decision IN ('replace', 'replace_conflict'))::integer,
           ((SELECT count(*) FROM decided WHERE decision IN ('keep', 'keep_conflict'))
            + (SELECT count(*) FROM ranked r WHERE r.rank > 1 AND NOT r.same_as_best))::integer,
           ((SELECT count(*) FROM decided WHERE decision = 'identical')
            + (SELECT count(*) FROM ranked r WHERE r.rank > 1 AND r.same_as_best))::integer,
           (SELECT count(*) FROM decided WHERE decision IN ('replace_conflict', 'keep_conflict'))::integer,
           (SELECT count(*) FROM rejected)::integer
      INTO result
      FROM smt.file f
     WHERE f.file_id = _merge_daily.file_id
       -- the data-modifying steps run whether or not they are read; reading them here makes
       -- the row counts final before the result is built
       AND (SELECT count(*) FROM moved) >= 0 AND (SELECT count(*) FROM kept) >= 0
       AND (SELECT count(*) FROM written) >= 0;

    UPDATE smt.file f
       SET state = 'loaded', records = result.records, inserted = result.inserted,
           replaced = result.replaced, stale = result.stale, identical = result.identical,
           conflicts = result.conflicts, rejected = result.rejected
     WHERE f.file_id = _merge_daily.file_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION smt._merge_daily(bigint, boolean) IS
'Merges the daily meter reads of a file registered by smt.load into smt.daily_read with the replacement rule (losers to smt.daily_read_version, rejects to smt.reject); returns the counts also stored in smt.file. Internal to smt.load.';

-- 11. Meters enrolled from SQL (smt.enroll): agreements with SMT and their customers, kept current.
-- Meters enrolled from SQL: the third-party flow on SMT's agreements API (seeds/000). A user calls
-- smt.enroll(esiid, meter_number, customer_email); the worker (job kind smt_api) sends SMT a new
-- agreement, SMT e-mails the customer, and the worker polls until the customer accepts (active),
-- rejects or lets it expire. Once active, a year of history (15-minute and daily reads) is
-- requested (smt.request), then every day the days since are requested (or, when the worker's
-- account keeps meters current by subscription, SMT delivers each new day over SFTP: see
-- smt.subscription), so the meter stays current unattended. smt.unenroll terminates the agreement. smt.meter_status shows each meter's
-- state, last data day, gaps and what happens next.
--
-- States: pending (to send) -> awaiting_customer (sent; polled) -> active | rejected | expired;
-- failed (SMT refused the agreement itself); terminating (to terminate) -> terminated.

CREATE TABLE smt.meter (
    esiid              text PRIMARY KEY,
    meter_number       text NOT NULL,
    customer_email     text NOT NULL,
    months             integer NOT NULL DEFAULT 12,
    state              text NOT NULL DEFAULT 'pending',
    agreement_number   text,
    state_reason       text,
    not_before         timestamptz NOT NULL DEFAULT now(),
    attempts           integer NOT NULL DEFAULT 0,
    worker             text,
    claimed_by         text,
    lease_until        timestamptz,
    history_from       date,
    requested_through  date,
    gaps_requested_on  date,
    meter_info         jsonb,
    enrolled_by        text NOT NULL DEFAULT session_user,
    enrolled_at        timestamptz NOT NULL DEFAULT now(),
    activated_at       timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT meter_months CHECK (months IN (1, 3, 6, 9, 12, 24, 36)),
    CONSTRAINT meter_state CHECK (state IN ('pending', 'awaiting_customer', 'active', 'rejected', 'expired',
                                            'failed', 'terminating', 'terminated'))
);
COMMENT ON TABLE smt.meter IS 'Meters enrolled with smt.enroll: the agreement with SMT and the customer, and how far data was requested. Read smt.meter_status; the worker changes rows only through the smt.meter_* worker functions.';
COMMENT ON COLUMN smt.meter.esiid IS 'ESIID (normalized).';
COMMENT ON COLUMN smt.meter.meter_number IS 'The meter number SMT asks for with the ESIID.';
COMMENT ON COLUMN smt.meter.customer_email IS 'The customer''s e-mail address, to which SMT sends the agreement to accept.';
COMMENT ON COLUMN smt.meter.months IS 'Agreement duration in months (1, 3, 6, 9, 12, 24 or 36, SMT''s choices).';
COMMENT ON COLUMN smt.meter.state IS 'pending, awaiting_customer, active, rejected, expired, failed, terminating or terminated.';
COMMENT ON COLUMN smt.meter.agreement_number IS 'SMT''s agreement number, once sent.';
COMMENT ON COLUMN smt.meter.state_reason IS 'SMT''s words for the state (a rejection, an error), or NULL.';
COMMENT ON COLUMN smt.meter.not_before IS 'When the worker next acts on it (sends, polls, retries).';
COMMENT ON COLUMN smt.meter.attempts IS 'Worker steps taken on it.';
COMMENT ON COLUMN smt.meter.worker IS 'The worker (host:pid) that last took it up.';
COMMENT ON COLUMN smt.meter.claimed_by IS 'The login role of that worker.';
COMMENT ON COLUMN smt.meter.lease_until IS 'While a worker holds it: when another may take it over.';
COMMENT ON COLUMN smt.meter.history_from IS 'The first operating day requested for it (a year before its activation, at most its agreement''s months).';
COMMENT ON COLUMN smt.meter.requested_through IS 'The last operating day requested for it (history, then each day since), or expected from the account''s subscription.';
COMMENT ON COLUMN smt.meter.gaps_requested_on IS 'The last day its missing days were requested again (at most once a day).';
COMMENT ON COLUMN smt.meter.meter_info IS 'SMT''s record of the meter (/v2/meterInfo/: meter number, serial, type), as SMT sent it when the agreement became active; NULL until then or when SMT gave none.';
COMMENT ON COLUMN smt.meter.enrolled_by IS 'Login role that enrolled it.';
COMMENT ON COLUMN smt.meter.enrolled_at IS 'When it was enrolled.';
COMMENT ON COLUMN smt.meter.activated_at IS 'When the customer''s acceptance was seen.';
COMMENT ON COLUMN smt.meter.updated_at IS 'When its state last changed.';

SELECT pg_catalog.pg_extension_config_dump('smt.meter', '');

CREATE FUNCTION smt.enroll(esiid text, meter_number text, customer_email text, months integer DEFAULT 12)
RETURNS smt.meter
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    m smt.meter;
BEGIN
    IF esiid IS NULL OR NOT smt.esiid_valid(esiid) THEN
        RAISE EXCEPTION 'smt.enroll: % is not a valid ESIID', coalesce(quote_literal(esiid), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ESIIDs are 17 or 22 digits starting with a TDSP''s prefix; check them with smt.esiid_valid.';
    END IF;
    IF nullif(btrim(meter_number), '') IS NULL OR customer_email IS NULL OR customer_email !~ '^[^@\s]+@[^@\s]+$'
       OR months IS NULL OR months NOT IN (1, 3, 6, 9, 12, 24, 36) THEN
        RAISE EXCEPTION 'smt.enroll: a meter number, the customer''s e-mail address and an agreement of 1, 3, 6, 9, 12, 24 or 36 months are needed'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('meter number %s, e-mail %s, months %s', coalesce(quote_literal(meter_number), 'NULL'),
                                  coalesce(quote_literal(customer_email), 'NULL'), coalesce(months::text, 'NULL')),
                  HINT = 'SELECT smt.enroll(''10443720000000001'', ''123456789'', ''customer@example.com'', 12);';
    END IF;
    INSERT INTO smt.meter AS t (esiid, meter_number, customer_email, months)
    VALUES (smt.esiid_normalize(enroll.esiid), btrim(enroll.meter_number), btrim(enroll.customer_email), enroll.months)
    ON CONFLICT (esiid) DO UPDATE
       SET meter_number = excluded.meter_number, customer_email = excluded.customer_email, months = excluded.months,
           state = 'pending', agreement_number = NULL, state_reason = NULL, attempts = 0, lease_until = NULL,
           -- the column defaults (now(), session_user): no function in an upsert's SET (Citus)
           not_before = excluded.not_before, enrolled_by = excluded.enrolled_by,
           enrolled_at = excluded.enrolled_at, updated_at = excluded.updated_at
     WHERE t.state IN ('rejected', 'expired', 'failed', 'terminated')
    RETURNING t.* INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'smt.enroll: ESIID % is enrolled already', smt.esiid_normalize(enroll.esiid)
            USING ERRCODE = 'unique_violation',
                  HINT = 'See smt.meter_status; a meter whose agreement was rejected, expired, failed or was terminated can be enrolled again.';
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION smt.enroll(text, text, text, integer) IS
'Enrolls a meter: the smt worker (job kind smt_api) asks SMT for an agreement (SMT e-mails the customer), and once the customer accepts, requests a year of 15-minute and daily data and then every new day. Returns the meter''s row; smt.meter_status shows its progress. With the caller''s own privileges (smt_admin).';

CREATE FUNCTION smt.unenroll(esiid text) RETURNS smt.meter
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m smt.meter;
BEGIN
    UPDATE smt.meter t
       SET state = CASE WHEN t.agreement_number IS NULL THEN 'terminated' ELSE 'terminating' END,
           not_before = now(), lease_until = NULL, updated_at = now()
     WHERE t.esiid = smt.esiid_normalize(unenroll.esiid) AND t.state IN ('pending', 'awaiting_customer', 'active', 'failed')
    RETURNING t.* INTO m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'smt.unenroll: no enrolled meter %', unenroll.esiid
            USING ERRCODE = 'no_data_found', HINT = 'See smt.meter_status.';
    END IF;
    RETURN m;
END
$$;
COMMENT ON FUNCTION smt.unenroll(text) IS 'Stops keeping a meter current: its agreement is terminated with SMT by the worker (at once when none was made yet). Data loaded stays. With the caller''s own privileges (smt_admin).';

-- Worker protocol (SECURITY DEFINER, for smt_loader).

-- A claim is a pick and a conditional update, not SELECT … FOR UPDATE SKIP LOCKED: on Citus, where
-- smt.meter is distributed by ESIID, a multi-shard query cannot lock rows. The update repeats the
-- pick's conditions, so a meter another worker took meanwhile is not taken twice (a single node
-- re-checks them on the newest row version once the other claim commits); the loop then picks
-- again, and that other claim is gone from the next pick. Bounded, in case claims keep racing.
CREATE FUNCTION smt.meter_claim(worker text, lease interval, due_by timestamptz) RETURNS SETOF smt.meter
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    at timestamptz := now();
    candidate text;
    claimed smt.meter;
BEGIN
    FOR attempt IN 1..32 LOOP
        SELECT q.esiid INTO candidate FROM smt.meter q
         WHERE q.state IN ('pending', 'awaiting_customer', 'terminating')
           AND q.not_before <= least(at, meter_claim.due_by)
           AND (q.lease_until IS NULL OR q.lease_until < at)
         ORDER BY q.not_before, q.esiid
         LIMIT 1;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        UPDATE smt.meter m
           SET worker = meter_claim.worker, claimed_by = session_user, lease_until = at + meter_claim.lease,
               attempts = m.attempts + 1
         WHERE m.esiid = candidate
           AND m.state IN ('pending', 'awaiting_customer', 'terminating')
           AND m.not_before <= least(at, meter_claim.due_by)
           AND (m.lease_until IS NULL OR m.lease_until < at)
        RETURNING m.* INTO claimed;
        IF FOUND THEN
            RETURN NEXT claimed;
            RETURN;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION smt.meter_claim(text, interval, timestamptz) IS 'Claims a meter whose agreement step (to send, to poll, to terminate) was due by due_by (a run passes its start, so it takes each meter once) for worker and the calling login role, for lease; no row when none is due.';

CREATE FUNCTION smt.meter_update(esiid text, worker text, state text, agreement_number text, reason text,
                                 next_step interval)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    m smt.meter;
    -- now() taken once: Citus refuses a non-IMMUTABLE function inside CASE in an UPDATE's SET.
    at timestamptz := now();
    yesterday date := smt._tomorrow() - 2;
    first_day date;
BEGIN
    IF meter_update.state NOT IN ('awaiting_customer', 'active', 'rejected', 'expired', 'failed', 'terminated',
                                  'pending', 'terminating') THEN
        RAISE EXCEPTION 'smt.meter_update: % is not a meter state', meter_update.state USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE smt.meter t
       SET state = meter_update.state, agreement_number = coalesce(meter_update.agreement_number, t.agreement_number),
           state_reason = meter_update.reason, lease_until = NULL,
           not_before = at + greatest(coalesce(meter_update.next_step, interval '0'), interval '0'),
           activated_at = CASE WHEN meter_update.state = 'active' THEN at ELSE t.activated_at END,
           updated_at = at
     WHERE t.esiid = meter_update.esiid AND t.worker = meter_update.worker AND t.claimed_by = session_user
       AND t.lease_until IS NOT NULL
    RETURNING t.* INTO m;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF m.state = 'active' AND m.requested_through IS NULL THEN
        -- A year of history (at most the agreement's months), 15-minute and daily, up to yesterday.
        first_day := greatest((yesterday - make_interval(months => least(m.months, 12)))::date + 1,
                              (yesterday - interval '48 months')::date + 1);
        PERFORM smt.request_usage(ARRAY[m.esiid], report, first_day, yesterday, 'json')
           FROM unnest(ARRAY['interval', 'daily']) report;
        UPDATE smt.meter t SET history_from = first_day, requested_through = yesterday WHERE t.esiid = m.esiid;
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.meter_update(text, text, text, text, text, interval) IS
'Records the outcome of a worker''s agreement step on a meter it holds: the new state, SMT''s agreement number and words, and when to act next. On becoming active, requests a year of history (15-minute and daily reads, up to yesterday). False when the meter is not the worker''s.';

CREATE FUNCTION smt.meter_info_update(esiid text, worker text, info jsonb) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE smt.meter t SET meter_info = meter_info_update.info
     WHERE t.esiid = meter_info_update.esiid AND t.worker = meter_info_update.worker
       AND t.claimed_by = session_user AND t.lease_until IS NOT NULL
    RETURNING true
$$;
COMMENT ON FUNCTION smt.meter_info_update(text, text, jsonb) IS 'Keeps SMT''s record of a meter (/v2/meterInfo/) the worker and login role hold. NULL when it is not theirs.';

-- One call at a time (an advisory lock; a concurrent call returns 0 at once, the running one queues
-- the requests), rather than rows locked with FOR UPDATE SKIP LOCKED, which Citus cannot do across
-- the shards of smt.meter. The gaps are found in two steps for the same reason: which meters lack
-- days (one query the shards answer in parallel: smt.meter and smt.day_total are co-located by
-- ESIID), then each such meter's first and last missing day (a query one shard answers), and
-- whether it has a request outstanding (smt.request stays on the coordinator).
CREATE FUNCTION smt.meter_keep_current(by_subscription boolean DEFAULT false) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    today date := smt._tomorrow() - 1;
    yesterday date := smt._tomorrow() - 2;
    -- Never before SMT's 48 months: a day older than that cannot be asked for.
    oldest date := (today - interval '48 months')::date + 1;
    m record;
    first_gap date;
    last_gap date;
    queued integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('smt.meter'), hashtext('smt.meter_keep_current')) THEN
        RETURN 0;
    END IF;
    IF by_subscription THEN
        -- SMT delivers each new day as a file: expected through the day before yesterday (a day's
        -- grace for the file to come); a day still missing then is a gap, requested below.
        UPDATE smt.meter t SET requested_through = yesterday - 1
         WHERE t.state = 'active' AND t.requested_through < yesterday - 1;
    ELSE
        -- The days since the last one requested.
        FOR m IN SELECT t.esiid, t.requested_through FROM smt.meter t
                  WHERE t.state = 'active' AND t.requested_through < yesterday
                  ORDER BY t.esiid
        LOOP
            PERFORM smt.request_usage(ARRAY[m.esiid], report, m.requested_through + 1, yesterday, 'json')
               FROM unnest(ARRAY['interval', 'daily']) report;
            UPDATE smt.meter t SET requested_through = yesterday WHERE t.esiid = m.esiid;
            queued := queued + 2;
        END LOOP;
    END IF;
    -- Days requested that still have no data (SMT had none yet, or its reply lacked them): asked
    -- again once a day, as one request spanning them, when none of the meter's is outstanding.
    FOR m IN SELECT t.esiid, greatest(t.history_from, oldest) AS first_day, t.requested_through AS last_day
               FROM smt.meter t
              WHERE t.state = 'active' AND t.gaps_requested_on IS DISTINCT FROM today
                AND greatest(t.history_from, oldest) <= t.requested_through
                AND (SELECT count(*) FROM smt.day_total x
                      WHERE x.esiid = t.esiid AND x.day BETWEEN greatest(t.history_from, oldest) AND t.requested_through)
                    < t.requested_through - greatest(t.history_from, oldest) + 1
              ORDER BY t.esiid
    LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM smt.request r WHERE r.esiids = ARRAY[m.esiid] AND r.report <> 'odr'
                                 AND r.state IN ('queued', 'sent', 'waiting'));
        SELECT min(d)::date, max(d)::date INTO first_gap, last_gap
          FROM generate_series(m.first_day, m.last_day, interval '1 day') d
         WHERE NOT EXISTS (SELECT 1 FROM smt.day_total x WHERE x.esiid = m.esiid AND x.day = d::date);
        CONTINUE WHEN first_gap IS NULL;
        PERFORM smt.request_usage(ARRAY[m.esiid], report, first_gap, last_gap, 'json')
           FROM unnest(ARRAY['interval', 'daily']) report;
        UPDATE smt.meter t SET gaps_requested_on = today WHERE t.esiid = m.esiid;
        queued := queued + 2;
    END LOOP;
    RETURN queued;
END
$$;
COMMENT ON FUNCTION smt.meter_keep_current(boolean) IS 'Requests, for every active meter, the days since the last one requested, up to yesterday (unless by_subscription: SMT then delivers each new day, expected by the day after), and once a day the days requested or expected that still have no data (15-minute and daily reads); returns how many requests it queued. The smt_api job calls it on every run.';

-- ---------------------------------------------------------------------------------------------
-- Subscriptions: an account that keeps meters current by subscription (keep_current =
-- "subscription" in the worker's [smt_api.NAME]) has SMT deliver every active meter's new days as
-- files on its SFTP site (loaded by an sftp_fetch job), one subscription per data type. The worker
-- subscribes while some meter is active and unsubscribes once none is.

CREATE TABLE smt.subscription (
    subscription_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source              text NOT NULL,
    data_type           text NOT NULL,
    report_format       text NOT NULL,
    subscription_number text NOT NULL,
    state               text NOT NULL DEFAULT 'active',
    created_at          timestamptz NOT NULL DEFAULT now(),
    cancelled_at        timestamptz,
    CONSTRAINT subscription_data_type CHECK (data_type IN ('INTERVAL', 'DAILY')),
    CONSTRAINT subscription_state CHECK (state IN ('active', 'cancelled'))
);
CREATE UNIQUE INDEX subscription_active_idx ON smt.subscription (source, data_type) WHERE state = 'active';
COMMENT ON TABLE smt.subscription IS 'Subscriptions made with SMT (/v2/NewSubscription/) by the smt_api job of an account that keeps meters current by subscription: SMT then delivers the new days of every active meter as files over SFTP.';
COMMENT ON COLUMN smt.subscription.subscription_id IS 'Identifier of the row.';
COMMENT ON COLUMN smt.subscription.source IS 'The account (smt-api://NAME, NAME its [smt_api.NAME] in the worker''s config) that made it.';
COMMENT ON COLUMN smt.subscription.data_type IS 'INTERVAL (15-minute reads) or DAILY (daily meter reads).';
COMMENT ON COLUMN smt.subscription.report_format IS 'The file format SMT delivers (CSV, LSE).';
COMMENT ON COLUMN smt.subscription.subscription_number IS 'SMT''s subscription number.';
COMMENT ON COLUMN smt.subscription.state IS 'active, or cancelled (/v2/UnSubscription/ once no meter was active).';
COMMENT ON COLUMN smt.subscription.created_at IS 'When SMT accepted it.';
COMMENT ON COLUMN smt.subscription.cancelled_at IS 'When it was cancelled.';

SELECT pg_catalog.pg_extension_config_dump('smt.subscription', '');

CREATE FUNCTION smt.subscription_steps(source text, data_types text[])
RETURNS TABLE (action text, data_type text, subscription_id bigint, subscription_number text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    -- subscribe: a data type wanted with no active subscription while some meter is active
    SELECT 'subscribe', d, NULL::bigint, NULL::text
      FROM unnest(subscription_steps.data_types) d
     WHERE EXISTS (SELECT FROM smt.meter m WHERE m.state = 'active')
       AND NOT EXISTS (SELECT FROM smt.subscription s WHERE s.source = subscription_steps.source
                          AND s.data_type = d AND s.state = 'active')
    UNION ALL
    -- unsubscribe: an active subscription once no meter is active or about to be
    SELECT 'unsubscribe', s.data_type, s.subscription_id, s.subscription_number
      FROM smt.subscription s
     WHERE s.source = subscription_steps.source AND s.state = 'active'
       AND NOT EXISTS (SELECT FROM smt.meter m WHERE m.state IN ('pending', 'awaiting_customer', 'active'))
$$;
COMMENT ON FUNCTION smt.subscription_steps(text, text[]) IS 'What the smt_api job of account source, keeping meters current by subscription to data_types, must do: subscribe to a data type (some meter is active, no subscription yet) or unsubscribe (no meter is active or on its way).';

CREATE FUNCTION smt.subscription_recorded(source text, data_type text, report_format text, subscription_number text)
RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO smt.subscription (source, data_type, report_format, subscription_number)
    VALUES (subscription_recorded.source, subscription_recorded.data_type, subscription_recorded.report_format,
            subscription_recorded.subscription_number)
    ON CONFLICT (source, data_type) WHERE state = 'active' DO NOTHING
    RETURNING true
$$;
COMMENT ON FUNCTION smt.subscription_recorded(text, text, text, text) IS 'Records a subscription SMT accepted for account source. NULL when the account already has an active one of the data type (another worker made it meanwhile).';

CREATE FUNCTION smt.subscription_cancelled(subscription_id bigint) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE smt.subscription s SET state = 'cancelled', cancelled_at = now()
     WHERE s.subscription_id = subscription_cancelled.subscription_id AND s.state = 'active'
    RETURNING true
$$;
COMMENT ON FUNCTION smt.subscription_cancelled(bigint) IS 'Records that SMT cancelled a subscription (/v2/UnSubscription/). NULL when it was not active.';

CREATE VIEW smt.meter_status WITH (security_invoker = true) AS
SELECT m.esiid, m.meter_number, m.state, m.agreement_number, m.state_reason, m.meter_info, m.enrolled_at, m.activated_at,
       m.requested_through,
       (SELECT max(t.day) FROM smt.day_total t WHERE t.esiid = m.esiid) AS last_data_day,
       -- The days of the range less those with data (one smt.day_total row a day): no set-returning
       -- function and no correlated EXISTS, so Citus runs it on the shards (co-located by ESIID).
       coalesce(greatest(m.requested_through - m.history_from + 1
                         - (SELECT count(*) FROM smt.day_total t
                             WHERE t.esiid = m.esiid AND t.day BETWEEN m.history_from AND m.requested_through), 0),
                0) AS days_missing,
       CASE m.state
           WHEN 'pending' THEN 'the worker sends SMT the agreement'
           WHEN 'awaiting_customer' THEN 'waiting for the customer to accept SMT''s e-mail; checked again at ' || m.not_before
           WHEN 'active' THEN CASE WHEN EXISTS (SELECT 1 FROM smt.subscription s WHERE s.state = 'active')
                                   THEN 'kept current: SMT delivers each new day (smt.subscription), missing days are requested'
                                   ELSE 'kept current: each new day is requested' END
           WHEN 'terminating' THEN 'the worker terminates the agreement with SMT'
           ELSE 'nothing (enroll again to start over)'
       END AS next_action
  FROM smt.meter m;
COMMENT ON VIEW smt.meter_status IS 'Every enrolled meter: agreement state and SMT''s words, the last day with data, how many requested days have none yet, and what happens next.';
COMMENT ON COLUMN smt.meter_status.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.meter_status.meter_number IS 'Meter number.';
COMMENT ON COLUMN smt.meter_status.state IS 'pending, awaiting_customer, active, rejected, expired, failed, terminating or terminated.';
COMMENT ON COLUMN smt.meter_status.agreement_number IS 'SMT''s agreement number.';
COMMENT ON COLUMN smt.meter_status.state_reason IS 'SMT''s words for the state, if any.';
COMMENT ON COLUMN smt.meter_status.meter_info IS 'SMT''s record of the meter (/v2/meterInfo/), as SMT sent it.';
COMMENT ON COLUMN smt.meter_status.enrolled_at IS 'When it was enrolled.';
COMMENT ON COLUMN smt.meter_status.activated_at IS 'When the customer''s acceptance was seen.';
COMMENT ON COLUMN smt.meter_status.requested_through IS 'The last operating day requested.';
COMMENT ON COLUMN smt.meter_status.last_data_day IS 'The last operating day with data loaded (smt.day_total).';
COMMENT ON COLUMN smt.meter_status.days_missing IS 'Days from the start of the history to requested_through without data yet.';
COMMENT ON COLUMN smt.meter_status.next_action IS 'What happens next, in words.';

-- A delivery loaded fulfils the requests waiting for it (deliveryMode FTP).
CREATE OR REPLACE FUNCTION smt.delivery_loaded(remote_file_id bigint, file_ids bigint[], sha256 bytea) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    missing bigint;
BEGIN
    IF delivery_loaded.file_ids IS NULL THEN
        RAISE EXCEPTION 'smt.delivery_loaded needs the file ids of the delivery''s reports'
              USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT u.id INTO missing
      FROM unnest(delivery_loaded.file_ids) AS u(id)
     WHERE u.id IS NULL OR NOT EXISTS (SELECT FROM smt.file f WHERE f.file_id = u.id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'smt.delivery_loaded: file % is not in smt.file', coalesce(missing::text, 'NULL')
              USING ERRCODE = 'foreign_key_violation',
                    HINT = 'Pass the file_id values smt.load returned for the delivery''s reports, in the same transaction.';
    END IF;
    UPDATE smt.remote_file r
       SET state = 'loaded', loaded_at = now(), file_ids = delivery_loaded.file_ids,
           sha256 = delivery_loaded.sha256, error = NULL
     WHERE r.remote_file_id = delivery_loaded.remote_file_id AND r.registered_by = session_user
       AND r.state IN ('fetched', 'loaded', 'quarantined');
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- The file a request SMT answers later (deliveryMode FTP) was waiting for.
    PERFORM smt._fulfil_by_delivery(delivery_loaded.remote_file_id);
    RETURN true;
END
$$;
COMMENT ON FUNCTION smt.delivery_loaded(bigint, bigint[], bytea) IS
'Marks a fetched delivery of the calling login role loaded, with the smt.file rows of its reports (each must exist) and the SHA-256 of its bytes, and fulfils the requests waiting for it (their correlationId in its name). Call it in the transaction that loaded the reports, so both commit together. False (and nothing changed) when it is not theirs or was never fetched.';

-- 12. Monthly billed usage (smt.monthly_usage, with its history), loaded by smt.load.
CREATE FUNCTION smt."_monthly_records"(
	"file_id" bigint, /* i64 */
	"lenient_esiid" bool /* bool */
) RETURNS TABLE (
	"role" TEXT,  /* & '_ str */
	"esiid" TEXT,  /* Option < String > */
	"start_date" date,  /* Option < Date > */
	"end_date" date,  /* Option < Date > */
	"revision" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"actual_kwh" NUMERIC,  /* Option < AnyNumeric > */
	"metered_kw" NUMERIC,  /* Option < AnyNumeric > */
	"billed_kw" NUMERIC,  /* Option < AnyNumeric > */
	"metered_kva" NUMERIC,  /* Option < AnyNumeric > */
	"billed_kva" NUMERIC,  /* Option < AnyNumeric > */
	"line" bigint,  /* i64 */
	"field" TEXT,  /* Option < String > */
	"kind" TEXT,  /* Option < String > */
	"reason" TEXT,  /* Option < String > */
	"raw" TEXT  /* Option < String > */
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_monthly_records_wrapper';
-- Monthly billed usage: one row per ESIID and billing period (start and end date, the period's
-- actual kWh, metered and billed kW and kVA where the TDSP gives them), from SMT's monthly usage
-- CSV, loaded by smt.load with the rule of the other reports: a newer revision of a period
-- replaces the stored one, an older one changes nothing, and every version received is kept
-- (smt.monthly_usage_version). A period is known by its ESIID and start date; its end date is
-- one of its values (a revised period may end on another day).
--
-- For equal revisions, the same values are an identical repeat, and different values are a
-- conflict won, whatever the order they arrive in, by the larger actual kWh (then the later end
-- date, then metered kW, billed kW, metered kVA, billed kVA). Periods are few (one row per meter a
-- month), so their merges take one lock of their own and run one at a time.

CREATE TABLE smt.monthly_usage (
    esiid       text NOT NULL,
    start_date  date NOT NULL,
    end_date    date NOT NULL,
    revision    timestamptz,
    actual_kwh  numeric,
    metered_kw  numeric,
    billed_kw   numeric,
    metered_kva numeric,
    billed_kva  numeric,
    file_id     bigint NOT NULL,
    line        bigint NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (esiid, start_date)
);
COMMENT ON TABLE smt.monthly_usage IS 'The current monthly billed usage of each ESIID and billing period (from SMT''s monthly usage CSV): one row per ESIID-period, the newest revision received.';
COMMENT ON COLUMN smt.monthly_usage.esiid IS 'ESIID (normalized).';
COMMENT ON COLUMN smt.monthly_usage.start_date IS 'First day of the billing period.';
COMMENT ON COLUMN smt.monthly_usage.end_date IS 'Last day of the billing period, as this version states it.';
COMMENT ON COLUMN smt.monthly_usage.revision IS 'When SMT made this version (REVISION_DATE); NULL when the file gave none (then it counts as older than any revision).';
COMMENT ON COLUMN smt.monthly_usage.actual_kwh IS 'The period''s actual kWh, exactly as delivered.';
COMMENT ON COLUMN smt.monthly_usage.metered_kw IS 'Metered demand (kW), where the TDSP gives it.';
COMMENT ON COLUMN smt.monthly_usage.billed_kw IS 'Billed demand (kW), where given.';
COMMENT ON COLUMN smt.monthly_usage.metered_kva IS 'Metered kVA, where given.';
COMMENT ON COLUMN smt.monthly_usage.billed_kva IS 'Billed kVA, where given.';
COMMENT ON COLUMN smt.monthly_usage.file_id IS 'The file (smt.file) this version came from.';
COMMENT ON COLUMN smt.monthly_usage.line IS 'Its line in that file.';
COMMENT ON COLUMN smt.monthly_usage.loaded_at IS 'When it became the current version.';

CREATE TABLE smt.monthly_usage_version (
    version_id         bigint GENERATED ALWAYS AS IDENTITY,
    esiid              text NOT NULL,
    start_date         date NOT NULL,
    end_date           date NOT NULL,
    revision           timestamptz,
    actual_kwh         numeric,
    metered_kw         numeric,
    billed_kw          numeric,
    metered_kva        numeric,
    billed_kva         numeric,
    file_id            bigint NOT NULL,
    line               bigint NOT NULL,
    loaded_at          timestamptz NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('replaced', 'stale', 'conflict_lost', 'superseded_in_file')),
    decided_by_file_id bigint NOT NULL,
    PRIMARY KEY (esiid, version_id)
);
CREATE INDEX monthly_usage_version_period_idx ON smt.monthly_usage_version (esiid, start_date);
COMMENT ON TABLE smt.monthly_usage_version IS 'Every monthly usage version received that is not the current one, with why: replaced by a newer one, stale on arrival, lost a same-revision conflict, or superseded within its own file.';
COMMENT ON COLUMN smt.monthly_usage_version.version_id IS 'Identifier of this version.';
COMMENT ON COLUMN smt.monthly_usage_version.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.monthly_usage_version.start_date IS 'First day of the billing period.';
COMMENT ON COLUMN smt.monthly_usage_version.end_date IS 'Last day of the period, as this version states it.';
COMMENT ON COLUMN smt.monthly_usage_version.revision IS 'Revision of this version (NULL: none given).';
COMMENT ON COLUMN smt.monthly_usage_version.actual_kwh IS 'Its actual kWh.';
COMMENT ON COLUMN smt.monthly_usage_version.metered_kw IS 'Its metered kW.';
COMMENT ON COLUMN smt.monthly_usage_version.billed_kw IS 'Its billed kW.';
COMMENT ON COLUMN smt.monthly_usage_version.metered_kva IS 'Its metered kVA.';
COMMENT ON COLUMN smt.monthly_usage_version.billed_kva IS 'Its billed kVA.';
COMMENT ON COLUMN smt.monthly_usage_version.file_id IS 'The file it came from.';
COMMENT ON COLUMN smt.monthly_usage_version.line IS 'Its line in that file.';
COMMENT ON COLUMN smt.monthly_usage_version.loaded_at IS 'When it was received (or became current, for a replaced one).';
COMMENT ON COLUMN smt.monthly_usage_version.outcome IS 'replaced (was current, a newer one came), stale (older than the current one on arrival), conflict_lost (same revision, other values, lost the tie-break), superseded_in_file (its file held a newer version of the period).';
COMMENT ON COLUMN smt.monthly_usage_version.decided_by_file_id IS 'The file whose load decided this.';

COMMENT ON FUNCTION smt._monthly_records(bigint, boolean) IS 'Monthly usage rows of a file kept in smt.file_content (SMT monthly usage CSV): one row per billing period (role record) or bad row (role reject, with its ESIID and start date when known), in file order. Internal to smt.load.';

SELECT pg_catalog.pg_extension_config_dump('smt.monthly_usage', '');
SELECT pg_catalog.pg_extension_config_dump('smt.monthly_usage_version', '');
SELECT pg_catalog.pg_extension_config_dump('smt.monthly_usage_version_version_id_seq', '');

-- Merges the monthly usage of a registered file: rejects recorded, each period's best version of
-- the file decided against the stored one, losers to history, winners stored; the counts go to
-- smt.file and are returned. One statement, so every step sees the same stored rows.
CREATE FUNCTION smt._merge_monthly(file_id bigint, lenient_esiid boolean) RETURNS smt.load_result
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result smt.load_result;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'), hashtext('smt monthly usage'));
    WITH staged AS MATERIALIZED (
        SELECT * FROM smt._monthly_records(_merge_monthly.file_id, _merge_monthly.lenient_esiid)
    ), rejected AS (
        INSERT INTO smt.reject (file_id, line, field, kind, reason, raw, esiid, day)
        SELECT _merge_monthly.file_id, s.line, s.field, s.kind, s.reason, s.raw, s.esiid, s.start_date
          FROM staged s WHERE s.role = 'reject'
        RETURNING 1
    ), ranked AS MATERIALIZED (
        -- each period's versions in the file, best first; a later one equal to the best is a repeat
        SELECT s.*, row_number() OVER w AS rank,
               ROW(s.revision, s.end_date, s.actual_kwh, s.metered_kw, s.billed_kw, s.metered_kva, s.billed_kva)::text
                   = first_value(ROW(s.revision, s.end_date, s.actual_kwh, s.metered_kw, s.billed_kw, s.metered_kva,
                                     s.billed_kva)::text) OVER w
                   AS same_as_best
          FROM staged s WHERE s.role = 'record'
        WINDOW w AS (PARTITION BY s.esiid, s.start_date
                     ORDER BY s.revision DESC NULLS LAST, s.actual_kwh DESC NULLS LAST, s.end_date DESC,
                              s.metered_kw DESC NULLS LAST, s.billed_kw DESC NULLS LAST,
                              s.metered_kva DESC NULLS LAST, s.billed_kva DESC NULLS LAST, s.line)
    ), stored AS MATERIALIZED (
        -- the stored versions of the file's days, by an inner join: on Citus, where smt.monthly_usage
        -- is distributed, an outer join of the file's rows with it would pull the whole table to
        -- the coordinator; this sends the file's rows to the shards (tests/citus/FINDINGS.md)
        SELECT d.* FROM ranked b JOIN smt.monthly_usage d ON d.esiid = b.esiid AND d.start_date = b.start_date WHERE b.rank = 1
    ), decided AS MATERIALIZED (
        SELECT b.*,
               CASE
                   WHEN d.esiid IS NULL THEN 'insert'
                   WHEN ROW(b.revision, b.end_date, b.actual_kwh, b.metered_kw, b.billed_kw, b.metered_kva, b.billed_kva)
                        IS NOT DISTINCT FROM
                        ROW(d.revision, d.end_date, d.actual_kwh, d.metered_kw, d.billed_kw, d.metered_kva, d.billed_kva)
                       THEN 'identical'
                   WHEN coalesce(b.revision, '-infinity') > coalesce(d.revision, '-infinity') THEN 'replace'
                   WHEN coalesce(b.revision, '-infinity') < coalesce(d.revision, '-infinity') THEN 'keep'
                   WHEN (coalesce(b.actual_kwh, -1e30), b.end_date, coalesce(b.metered_kw, -1e30),
                         coalesce(b.billed_kw, -1e30), coalesce(b.metered_kva, -1e30), coalesce(b.billed_kva, -1e30))
                        > (coalesce(d.actual_kwh, -1e30), d.end_date, coalesce(d.metered_kw, -1e30),
                           coalesce(d.billed_kw, -1e30), coalesce(d.metered_kva, -1e30), coalesce(d.billed_kva, -1e30))
                       THEN 'replace_conflict'
                   WHEN (coalesce(b.actual_kwh, -1e30), b.end_date, coalesce(b.metered_kw, -1e30),
                         coalesce(b.billed_kw, -1e30), coalesce(b.metered_kva, -1e30), coalesce(b.billed_kva, -1e30))
                        = (coalesce(d.actual_kwh, -1e30), d.end_date, coalesce(d.metered_kw, -1e30),
                           coalesce(d.billed_kw, -1e30), coalesce(d.metered_kva, -1e30), coalesce(d.billed_kva, -1e30))
                       THEN 'identical'
                   ELSE 'keep_conflict'
               END AS decision
          FROM ranked b LEFT JOIN stored d ON d.esiid = b.esiid AND d.start_date = b.start_date
         WHERE b.rank = 1
    ), moved AS (
        INSERT INTO smt.monthly_usage_version (esiid, start_date, end_date, revision, actual_kwh, metered_kw, billed_kw,
                                               metered_kva, billed_kva, file_id, line, loaded_at, outcome,
                                               decided_by_file_id)
        SELECT d.esiid, d.start_date, d.end_date, d.revision, d.actual_kwh, d.metered_kw, d.billed_kw, d.metered_kva,
               d.billed_kva, d.file_id, d.line, d.loaded_at,
               CASE x.decision WHEN 'replace' THEN 'replaced' ELSE 'conflict_lost' END, _merge_monthly.file_id
          FROM decided x JOIN smt.monthly_usage d ON d.esiid = x.esiid AND d.start_date = x.start_date
         WHERE x.decision IN ('replace', 'replace_conflict')
        RETURNING 1
    ), kept AS (
        INSERT INTO smt.monthly_usage_version (esiid, start_date, end_date, revision, actual_kwh, metered_kw, billed_kw,
                                               metered_kva, billed_kva, file_id, line, loaded_at, outcome,
                                               decided_by_file_id)
        SELECT x.esiid, x.start_date, x.end_date, x.revision, x.actual_kwh, x.metered_kw, x.billed_kw, x.metered_kva,
               x.billed_kva, _merge_monthly.file_id, x.line, now(),
               CASE x.decision WHEN 'keep' THEN 'stale' ELSE 'conflict_lost' END, _merge_monthly.file_id
          FROM decided x WHERE x.decision IN ('keep', 'keep_conflict')
        UNION ALL
        -- other versions of a period in the same file (not repeats of its best one)
        SELECT r.esiid, r.start_date, r.end_date, r.revision, r.actual_kwh, r.metered_kw, r.billed_kw, r.metered_kva,
               r.billed_kva, _merge_monthly.file_id, r.line, now(), 'superseded_in_file', _merge_monthly.file_id
          FROM ranked r
         WHERE r.rank > 1 AND NOT r.same_as_best
        RETURNING 1
    ), written AS (
        INSERT INTO smt.monthly_usage AS t (esiid, start_date, end_date, revision, actual_kwh, metered_kw, billed_kw,
                                            metered_kva, billed_kva, file_id, line)
        SELECT x.esiid, x.start_date, x.end_date, x.revision, x.actual_kwh, x.metered_kw, x.billed_kw, x.metered_kva,
               x.billed_kva, _merge_monthly.file_id, x.line
          FROM decided x WHERE x.decision IN ('insert', 'replace', 'replace_conflict')
        ON CONFLICT (esiid, start_date) DO UPDATE
           SET end_date = excluded.end_date, revision = excluded.revision, actual_kwh = excluded.actual_kwh,
               metered_kw = excluded.metered_kw, billed_kw = excluded.billed_kw,
               metered_kva = excluded.metered_kva, billed_kva = excluded.billed_kva,
               file_id = excluded.file_id, line = excluded.line,
               loaded_at = excluded.loaded_at -- its default, now(): no function here (Citus)
        RETURNING 1
    )
    SELECT _merge_monthly.file_id, f.format, false, NULL::text,
           (SELECT count(*) FROM ranked)::integer,
           (SELECT count(*) FROM decided WHERE decision = 'insert')::integer,
           (SELECT count(*) FROM decided WHERE decision IN ('replace', 'replace_conflict'))::integer,
           ((SELECT count(*) FROM decided WHERE decision IN ('keep', 'keep_conflict'))
            + (SELECT count(*) FROM ranked r WHERE r.rank > 1 AND NOT r.same_as_best))::integer,
           ((SELECT count(*) FROM decided WHERE decision = 'identical')
            + (SELECT count(*) FROM ranked r WHERE r.rank > 1 AND r.same_as_best))::integer,
           (SELECT count(*) FROM decided WHERE decision IN ('replace_conflict', 'keep_conflict'))::integer,
           (SELECT count(*) FROM rejected)::integer
      INTO result
      FROM smt.file f
     WHERE f.file_id = _merge_monthly.file_id
       -- the data-modifying steps run whether or not they are read; reading them here makes
       -- the row counts final before the result is built
       AND (SELECT count(*) FROM moved) >= 0 AND (SELECT count(*) FROM kept) >= 0
       AND (SELECT count(*) FROM written) >= 0;

    UPDATE smt.file f
       SET state = 'loaded', records = result.records, inserted = result.inserted,
           replaced = result.replaced, stale = result.stale, identical = result.identical,
           conflicts = result.conflicts, rejected = result.rejected
     WHERE f.file_id = _merge_monthly.file_id;
    RETURN result;
END
$$;
COMMENT ON FUNCTION smt._merge_monthly(bigint, boolean) IS
'Merges the monthly usage of a file registered by smt.load into smt.monthly_usage with the replacement rule (losers to smt.monthly_usage_version, rejects to smt.reject); returns the counts also stored in smt.file. Internal to smt.load.';

-- 13. Reports: monthly usage, the meter check, estimates replaced; the Green Button export.
CREATE FUNCTION smt."_day_hours"(
	"first_start" timestamp with time zone, /* TimestampWithTimeZone */
	"interval_seconds" INT, /* i32 */
	"scale" smallint, /* i16 */
	"units16" smallint[], /* :: std :: option :: Option < Vec < Option < i16 > > > */
	"units" INT[], /* :: std :: option :: Option < Vec < Option < i32 > > > */
	"kwh_exact" NUMERIC[] /* :: std :: option :: Option < Vec < Option < AnyNumeric > > > */
) RETURNS bigint[] /* Vec < Option < i64 > > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_day_hours_wrapper';
-- Reports for people and BI tools, read from what is kept at load time (smt.day_total, the daily
-- meter reads, the version history), never by unnesting every interval of every meter.

CREATE VIEW smt.monthly_usage_summary WITH (security_invoker = true) AS
SELECT m.esiid, m.month, m.days, m.import_kwh, m.export_kwh, m.net_kwh, m.intervals_expected,
       m.intervals_present, m.intervals_estimated, m.intervals_missing,
       m.peak[1] AS peak_kw,
       to_timestamp(-m.peak[2]) AS peak_start,
       to_timestamp(-m.peak[2]) AT TIME ZONE 'America/Chicago' AS peak_start_local
  FROM (SELECT t.esiid,
               date_trunc('month', t.day)::date AS month,
               count(*)::integer AS days,
               sum(t.import_kwh) AS import_kwh,
               sum(t.export_kwh) AS export_kwh,
               coalesce(sum(t.import_kwh), 0) - coalesce(sum(t.export_kwh), 0) AS net_kwh,
               sum(t.intervals_expected)::integer AS intervals_expected,
               sum(t.intervals_present)::integer AS intervals_present,
               sum(t.intervals_estimated)::integer AS intervals_estimated,
               sum(t.intervals_expected - t.intervals_present)::integer AS intervals_missing,
               -- the largest peak, the earliest of equal ones: arrays compare element by element,
               -- so one max() finds both without sorting the month's days
               max(ARRAY[t.peak_kw, -extract(epoch FROM t.peak_start)]) FILTER (WHERE t.peak_kw IS NOT NULL) AS peak
          FROM smt.day_total t
         GROUP BY t.esiid, date_trunc('month', t.day)) m;
COMMENT ON VIEW smt.monthly_usage_summary IS 'Per ESIID and calendar month (of operating days, Central prevailing time) with data: kWh imported, exported and net, exact; the load intervals expected, present, estimated and missing; the peak 15-minute demand and when it began. Reads the daily totals kept at load time (smt.day_total), never the intervals.';
COMMENT ON COLUMN smt.monthly_usage_summary.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.monthly_usage_summary.month IS 'First day of the calendar month.';
COMMENT ON COLUMN smt.monthly_usage_summary.days IS 'Operating days of the month with data.';
COMMENT ON COLUMN smt.monthly_usage_summary.import_kwh IS 'Sum of channel 4 (consumption) kWh, exact.';
COMMENT ON COLUMN smt.monthly_usage_summary.export_kwh IS 'Sum of channel 1 (surplus generation) kWh, exact; NULL without generation data.';
COMMENT ON COLUMN smt.monthly_usage_summary.net_kwh IS 'import_kwh minus export_kwh.';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_expected IS 'Load intervals the days with data should have (96, 92 or 100 a day).';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_present IS 'Load intervals with a value.';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_estimated IS 'Load intervals marked E (estimated).';
COMMENT ON COLUMN smt.monthly_usage_summary.peak_kw IS 'Peak demand, kW: the month''s largest consumption interval''s kWh × intervals an hour (× 4 at 15 minutes), exact; NULL without consumption values.';
COMMENT ON COLUMN smt.monthly_usage_summary.peak_start IS 'When the peak interval began (an instant; the first, if the peak repeats).';
COMMENT ON COLUMN smt.monthly_usage_summary.peak_start_local IS 'When the peak interval began, Central wall-clock time.';
COMMENT ON COLUMN smt.monthly_usage_summary.intervals_missing IS 'intervals_expected minus intervals_present (days without any data are not counted: see smt.completeness and smt.meter_status).';

-- The sum check of VEE: a day's intervals against the meter's own register.
CREATE VIEW smt.meter_check WITH (security_invoker = true) AS
SELECT r.esiid,
       r.day,
       t.import_kwh AS interval_kwh,
       r.end_reading - r.start_reading AS register_kwh,
       t.import_kwh - (r.end_reading - r.start_reading) AS difference_kwh,
       coalesce(nullif(current_setting('smt.meter_check_tolerance_kwh', true), '')::numeric, 0.01) AS tolerance_kwh,
       t.intervals_present::integer AS intervals_present,
       (t.intervals_expected - t.intervals_present)::integer AS intervals_missing,
       abs(t.import_kwh - (r.end_reading - r.start_reading))
           <= coalesce(nullif(current_setting('smt.meter_check_tolerance_kwh', true), '')::numeric, 0.01) AS agrees
  FROM smt.daily_read r
  JOIN smt.day_total t ON t.esiid = r.esiid AND t.day = r.day
 WHERE r.start_reading IS NOT NULL AND r.end_reading IS NOT NULL AND t.import_kwh IS NOT NULL;
COMMENT ON VIEW smt.meter_check IS 'Each ESIID-day with both 15-minute data and a daily meter read: the sum of the day''s consumption intervals against the register''s difference (end reading minus start reading), and whether they agree within smt.meter_check_tolerance_kwh (default 0.01 kWh). Read smt.meter_check_failures for the days that do not.';
COMMENT ON COLUMN smt.meter_check.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.meter_check.day IS 'Operating day.';
COMMENT ON COLUMN smt.meter_check.interval_kwh IS 'Sum of the day''s channel 4 intervals (smt.day_total), exact.';
COMMENT ON COLUMN smt.meter_check.register_kwh IS 'end_reading minus start_reading of the day''s meter read, exact.';
COMMENT ON COLUMN smt.meter_check.difference_kwh IS 'interval_kwh minus register_kwh.';
COMMENT ON COLUMN smt.meter_check.tolerance_kwh IS 'The tolerance applied: the setting smt.meter_check_tolerance_kwh, default 0.01.';
COMMENT ON COLUMN smt.meter_check.intervals_present IS 'Channel 4 intervals with a value that day.';
COMMENT ON COLUMN smt.meter_check.intervals_missing IS 'Channel 4 intervals the day lacks (a missing interval makes the sum short).';
COMMENT ON COLUMN smt.meter_check.agrees IS 'True when |difference_kwh| <= tolerance_kwh.';

CREATE VIEW smt.meter_check_failures WITH (security_invoker = true) AS
SELECT * FROM smt.meter_check WHERE NOT agrees;
COMMENT ON VIEW smt.meter_check_failures IS 'The days of smt.meter_check whose intervals and register disagree beyond the tolerance.';
COMMENT ON COLUMN smt.meter_check_failures.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.meter_check_failures.day IS 'Operating day.';
COMMENT ON COLUMN smt.meter_check_failures.interval_kwh IS 'Sum of the day''s channel 4 intervals, exact.';
COMMENT ON COLUMN smt.meter_check_failures.register_kwh IS 'end_reading minus start_reading, exact.';
COMMENT ON COLUMN smt.meter_check_failures.difference_kwh IS 'interval_kwh minus register_kwh.';
COMMENT ON COLUMN smt.meter_check_failures.tolerance_kwh IS 'The tolerance applied.';
COMMENT ON COLUMN smt.meter_check_failures.intervals_present IS 'Channel 4 intervals with a value that day.';
COMMENT ON COLUMN smt.meter_check_failures.intervals_missing IS 'Channel 4 intervals the day lacks.';
COMMENT ON COLUMN smt.meter_check_failures.agrees IS 'Always false here.';

-- Estimated intervals a later version replaced with actual ones, from the version history.
CREATE VIEW smt.estimates_replaced WITH (security_invoker = true) AS
SELECT v.esiid,
       v.channel,
       v.day,
       v.revision AS estimated_revision,
       d.revision AS current_revision,
       (SELECT count(*) FROM generate_series(1, least(length(v.status), length(d.status))) i
         WHERE substr(v.status, i, 1) = 'E' AND substr(d.status, i, 1) = 'A')::integer AS intervals_now_actual
  FROM smt.interval_version v
  JOIN smt.interval_day d ON d.esiid = v.esiid AND d.channel = v.channel AND d.day = v.day
 -- replaced by a newer version, or (same revision) lost to one with more actual readings
 WHERE (v.outcome = 'replaced' OR (v.outcome = 'conflict_lost' AND v.file_id <> v.decided_by_file_id))
   AND v.interval_seconds = d.interval_seconds AND strpos(v.status, 'E') > 0
   AND EXISTS (SELECT FROM generate_series(1, least(length(v.status), length(d.status))) i
                WHERE substr(v.status, i, 1) = 'E' AND substr(d.status, i, 1) = 'A');
COMMENT ON VIEW smt.estimates_replaced IS 'Each earlier version of an ESIID-channel-day (replaced by a newer revision, or losing a same-revision tie to a later file) that held estimated intervals which the current version holds as actual readings: how many became actual.';
COMMENT ON COLUMN smt.estimates_replaced.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.estimates_replaced.channel IS 'ERCOT channel.';
COMMENT ON COLUMN smt.estimates_replaced.day IS 'Operating day.';
COMMENT ON COLUMN smt.estimates_replaced.estimated_revision IS 'Revision of the replaced version that held the estimates.';
COMMENT ON COLUMN smt.estimates_replaced.current_revision IS 'Revision of the current version.';
COMMENT ON COLUMN smt.estimates_replaced.intervals_now_actual IS 'Intervals estimated in that version and actual in the current one.';

COMMENT ON FUNCTION smt._day_hours(timestamptz, integer, smallint, smallint[], integer[], numeric[]) IS 'A stored day''s consumption per hour ending (Central clock), from its storage columns: 24 scaled integers, element h the units of hour ending h (NULL for an hour without a value); kWh = units × 10^-scale, scale being the day''s (smt._day_hour_scale). The fall-back day''s repeated hour counts in hour 2.';

-- The scale of smt._day_hours's units: the day's own, or for a day kept as exact numerics the
-- largest scale of its values (smt-core's day_profile::hour_totals sums them at that scale). Two
-- functions so that the first, called for every stored day, stays inlinable (a sub-select would
-- make it a function call a row, slower than the rest of the report).
CREATE FUNCTION smt._max_scale(kwh_exact numeric[]) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce((SELECT max(pg_catalog.scale(x)) FROM unnest(kwh_exact) x), 0);
COMMENT ON FUNCTION smt._max_scale(numeric[]) IS 'The largest decimal scale of the values of a numeric array (0 without values).';
CREATE FUNCTION smt._day_hour_scale(scale smallint, kwh_exact numeric[]) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN kwh_exact IS NULL THEN scale ELSE smt._max_scale(kwh_exact) END;
COMMENT ON FUNCTION smt._day_hour_scale(smallint, numeric[]) IS 'Decimal scale of the hour units smt._day_hours gives for a stored day: its scale, or the largest scale of its kwh_exact values.';

-- Consumption per ESIID, day and local hour: each stored day's hour totals come from one call of
-- smt._day_hours over its stored values (an array of 24 integers, never a row per interval). The
-- hour's units and their scale stand beside kwh so that the reports below sum integers and make
-- kWh once a group: a column a query does not select is not computed.
CREATE VIEW smt.hourly_usage WITH (security_invoker = true) AS
SELECT d.esiid,
       d.day,
       h.hour_ending::smallint AS hour_ending,
       CASE WHEN extract(isodow FROM d.day) IN (6, 7) THEN 'weekend' ELSE 'weekday' END AS day_type,
       round(h.units / (10::numeric ^ sc.scale), sc.scale) AS kwh,
       h.units AS kwh_units,
       sc.scale AS kwh_scale
  FROM smt.interval_day d
 CROSS JOIN LATERAL (SELECT smt._day_hour_scale(d.scale, d.kwh_exact) AS scale) sc
 CROSS JOIN LATERAL unnest(smt._day_hours(d.first_start, d.interval_seconds, d.scale, d.units16, d.units, d.kwh_exact))
       WITH ORDINALITY AS h(units, hour_ending)
 WHERE d.channel = 4 AND h.units IS NOT NULL;
COMMENT ON VIEW smt.hourly_usage IS 'Consumption per ESIID, operating day and hour ending (Central clock, as ERCOT writes it), exact: one row per hour with a value (23 on the spring-forward day, whose hour ending 3 does not exist; the fall-back day''s two passes of 01:00 are one hour ending 2). Filter by ESIID and day.';
COMMENT ON COLUMN smt.hourly_usage.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.hourly_usage.day IS 'Operating day, Central prevailing time.';
COMMENT ON COLUMN smt.hourly_usage.hour_ending IS 'Hour ending, 1 to 24.';
COMMENT ON COLUMN smt.hourly_usage.day_type IS 'weekday (Monday to Friday) or weekend.';
COMMENT ON COLUMN smt.hourly_usage.kwh IS 'Consumption of the hour''s intervals with a value, kWh, exact.';
COMMENT ON COLUMN smt.hourly_usage.kwh_units IS 'kwh as a scaled integer: kwh = kwh_units × 10^-kwh_scale (what the reports sum).';
COMMENT ON COLUMN smt.hourly_usage.kwh_scale IS 'Decimal scale of kwh_units.';

-- Per ESIID and month: integers summed per scale (one scale for nearly every day), made kWh once
-- a group.
CREATE VIEW smt.hourly_profile WITH (security_invoker = true) AS
SELECT esiid, month, day_type, hour_ending,
       sum(days)::integer AS days,
       sum(kwh) AS total_kwh,
       sum(kwh) / sum(days) AS kwh_per_day
  FROM (SELECT u.esiid, date_trunc('month', u.day)::date AS month, u.day_type, u.hour_ending,
               count(*) AS days,
               round(sum(u.kwh_units) / (10::numeric ^ u.kwh_scale), u.kwh_scale) AS kwh
          FROM smt.hourly_usage u
         GROUP BY u.esiid, date_trunc('month', u.day), u.day_type, u.hour_ending, u.kwh_scale) per_scale
 GROUP BY esiid, month, day_type, hour_ending;
COMMENT ON VIEW smt.hourly_profile IS 'Per ESIID, calendar month (of operating days), day type (weekday or weekend) and hour ending (Central clock, as ERCOT writes it): consumption kWh in all and per day, exact. Sum over months for a season or a year; filter by ESIID for one meter.';
COMMENT ON COLUMN smt.hourly_profile.esiid IS 'ESIID.';
COMMENT ON COLUMN smt.hourly_profile.month IS 'First day of the calendar month.';
COMMENT ON COLUMN smt.hourly_profile.day_type IS 'weekday (Monday to Friday) or weekend.';
COMMENT ON COLUMN smt.hourly_profile.hour_ending IS 'Hour ending, 1 to 24 (the fall-back day''s repeated hour counts in hour 2; the spring-forward day has no hour 3).';
COMMENT ON COLUMN smt.hourly_profile.days IS 'Days of the month and day type with a value in that hour.';
COMMENT ON COLUMN smt.hourly_profile.total_kwh IS 'Sum of the hour''s consumption kWh over those days, exact.';
COMMENT ON COLUMN smt.hourly_profile.kwh_per_day IS 'total_kwh divided by days.';

-- The same for all meters together (a system or portfolio load shape).
CREATE VIEW smt.hourly_load_shape WITH (security_invoker = true) AS
SELECT month, day_type, hour_ending,
       sum(esiid_days)::bigint AS esiid_days,
       sum(kwh) AS total_kwh
  FROM (SELECT date_trunc('month', u.day)::date AS month, u.day_type, u.hour_ending,
               count(*) AS esiid_days,
               round(sum(u.kwh_units) / (10::numeric ^ u.kwh_scale), u.kwh_scale) AS kwh
          FROM smt.hourly_usage u
         GROUP BY date_trunc('month', u.day), u.day_type, u.hour_ending, u.kwh_scale) per_scale
 GROUP BY month, day_type, hour_ending;
COMMENT ON VIEW smt.hourly_load_shape IS 'Consumption of all meters together per calendar month (of operating days), day type and hour ending (Central clock): the load shape of the whole portfolio, exact. Filter by month.';
COMMENT ON COLUMN smt.hourly_load_shape.month IS 'First day of the calendar month.';
COMMENT ON COLUMN smt.hourly_load_shape.day_type IS 'weekday (Monday to Friday) or weekend.';
COMMENT ON COLUMN smt.hourly_load_shape.hour_ending IS 'Hour ending, 1 to 24, as in smt.hourly_profile.';
COMMENT ON COLUMN smt.hourly_load_shape.esiid_days IS 'ESIID-days with a value in that hour.';
COMMENT ON COLUMN smt.hourly_load_shape.total_kwh IS 'Sum of the hour''s consumption kWh over all of them, exact.';

CREATE FUNCTION smt."_green_button_feed"(
	"esiid" TEXT, /* & str */
	"title" TEXT, /* & str */
	"updated" timestamp with time zone, /* TimestampWithTimeZone */
	"channels" smallint[], /* Vec < i16 > */
	"days" date[], /* Vec < Date > */
	"revisions" timestamp with time zone[], /* Vec < TimestampWithTimeZone > */
	"values" TEXT[], /* Vec < String > */
	"statuses" TEXT[] /* Vec < String > */
) RETURNS TEXT /* String */
IMMUTABLE STRICT PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_green_button_feed_wrapper';
-- Green Button export: the stored 15-minute days of one ESIID as an ESPI 4.0 Atom feed (both
-- channels, exact scaled integers, estimated intervals flagged, missing ones absent), valid
-- against the official schema; `smt export green-button` writes the same text to a file.

CREATE FUNCTION smt.green_button(esiid text, first_day date, last_day date) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    normalized text := smt.esiid_normalize(green_button.esiid);
    out text;
BEGIN
    IF first_day IS NULL OR last_day IS NULL OR first_day > last_day OR normalized IS NULL THEN
        RAISE EXCEPTION 'smt.green_button needs an ESIID and first_day <= last_day'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'SELECT smt.green_button(''10443720000000001'', date ''2025-09-01'', date ''2025-09-30'');';
    END IF;
    SELECT smt._green_button_feed(normalized, 'ESIID ' || normalized, max(d.revision),
                                  array_agg(d.channel ORDER BY d.channel, d.day),
                                  array_agg(d.day ORDER BY d.channel, d.day),
                                  array_agg(d.revision ORDER BY d.channel, d.day),
                                  array_agg(d.kwh_list ORDER BY d.channel, d.day),
                                  array_agg(d.status_list ORDER BY d.channel, d.day))
      INTO out
      FROM (SELECT i.channel, i.day, i.revision,
                   string_agg(coalesce(i.kwh::text, ''), ',' ORDER BY i.interval_start) AS kwh_list,
                   string_agg(coalesce(i.status, '-'), '' ORDER BY i.interval_start) AS status_list
              FROM smt.interval i
             WHERE i.esiid = normalized AND i.day BETWEEN first_day AND last_day AND i.channel IN (1, 4)
               AND i.interval_end - i.interval_start = interval '15 minutes'
             GROUP BY i.channel, i.day, i.revision) d
    HAVING count(*) > 0;
    IF out IS NULL THEN
        RAISE EXCEPTION 'smt.green_button: no 15-minute data of ESIID % from % to %', normalized, first_day, last_day
            USING ERRCODE = 'no_data_found', HINT = 'See smt.daily_usage for the days held.';
    END IF;
    RETURN out;
END
$$;
COMMENT ON FUNCTION smt.green_button(text, date, date) IS 'The 15-minute data of an ESIID over operating days first_day to last_day (load channel 4 and generation channel 1) as a Green Button (NAESB ESPI 4.0) Atom feed: Wh scaled to exact integers, estimated intervals with ReadingQuality 8, US Central local time parameters. It validates against the official schema and loads back (smt.load) to the same data.';

COMMENT ON FUNCTION smt._green_button_feed(text, text, timestamptz, smallint[], date[], timestamptz[], text[], text[]) IS 'Writes the ESPI feed of smt.green_button from the days it gathers (parallel arrays: channel, day, revision, values as text joined by commas, statuses). Internal to smt.green_button.';

-- 14. Citus: rejects keyed by file first (a key Citus can hold when smt.reject is distributed by
--     file_id), and smt.distribute.
ALTER TABLE smt.reject DROP CONSTRAINT reject_pkey;
ALTER TABLE smt.reject ADD CONSTRAINT reject_pkey PRIMARY KEY (file_id, reject_id);
DROP INDEX smt.reject_file_idx;
CREATE INDEX reject_id_idx ON smt.reject (reject_id);

-- Citus (distributed PostgreSQL): smt spread over a cluster's workers by ESIID.
--
-- On a Citus coordinator, after CREATE EXTENSION citus and CREATE EXTENSION smt (Citus runs the
-- latter on every worker too), the DBA runs SELECT * FROM smt.distribute() once. What it makes:
--   * every ESIID-keyed table (the stored days and their totals, their history, daily and monthly
--     reads and theirs, the enrolled meters) distributed by esiid and co-located, so one ESIID's
--     rows sit on one worker: a query for one meter goes to one shard, a query over all meters
--     runs on every shard at once, and a load's merge writes each shard in parallel;
--   * the raw bytes (smt.file_content) and the rejects distributed by file_id and co-located: a
--     reject's ESIID may be unreadable (NULL), and a file's bytes belong with its rejects. Their
--     keys to smt.file are dropped (a distributed table may reference only a reference table): a
--     file's row, bytes and rejects are still written in one transaction, but deleting a file's row
--     no longer deletes its bytes and rejects;
--   * everything else left on the coordinator: smt.file, the register of loaded files (one row a
--     file; its sha256 key makes a file load once), staging (smt.stage and smt.upload trust rows by
--     the loading transaction's id, which means nothing on a worker), the scheduler's jobs, runs,
--     deliveries, requests (an ESIID list each) and subscriptions. smt.file is not a reference
--     table: Citus serializes every write to a reference table on a cluster-wide lock held to
--     commit, and every load writes its file's row first, so loads would run one at a time
--     (measured: the 2.5-million-ESIID day of make bench-citus took 10 times as long as on one node).
-- The functions that write distributed tables keep to what Citus can run: no now() in an upsert's
-- DO UPDATE SET or inside CASE, no row locks across shards, no set-returning function joined to a
-- distributed table. Loads and reports are the same SQL on one node and on a cluster.

CREATE FUNCTION smt.distribute(shard_count integer DEFAULT NULL)
RETURNS TABLE (table_name regclass, distribution text, distributed_by text, colocation_id integer)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- The ESIID-keyed tables, the first one setting the shards the others are co-located with.
    by_esiid constant text[] := ARRAY['smt.interval_day', 'smt.interval_version', 'smt.day_total',
                                      'smt.daily_read', 'smt.daily_read_version', 'smt.monthly_usage',
                                      'smt.monthly_usage_version', 'smt.meter'];
    shards integer;
    t text;
    failed text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'smt.distribute: the citus extension is not installed in database %', current_database()
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'smt.distribute spreads smt''s tables over the workers of a Citus cluster; on a single server there is nothing to do.',
                  HINT = 'On the Citus coordinator: CREATE EXTENSION citus, add the workers (citus_add_node), CREATE EXTENSION smt, then SELECT * FROM smt.distribute().';
    END IF;
    -- Run again, it changes nothing and shows the layout.
    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'smt.interval_day'::regclass) THEN
        shards := coalesce(distribute.shard_count, current_setting('citus.shard_count')::integer);
        IF shards < 1 THEN
            RAISE EXCEPTION 'smt.distribute: shard_count must be positive, not %', shards
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- The tables are made by CREATE EXTENSION on every node, so Citus must not make them again:
        -- one transaction, the shards created one after another on each worker connection.
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
        -- The keys of smt.file_content and smt.reject to smt.file go, on the workers' copies too
        -- (the workers' own CREATE EXTENSION made them, and Citus would make each shard check a
        -- table it does not have).
        FOREACH t IN ARRAY ARRAY['ALTER TABLE smt.file_content DROP CONSTRAINT IF EXISTS file_content_file_id_fkey',
                                 'ALTER TABLE smt.reject DROP CONSTRAINT IF EXISTS reject_file_id_fkey'] LOOP
            EXECUTE t;
            SELECT string_agg(format('%s:%s: %s', w.nodename, w.nodeport, w.result), '; ') INTO failed
              FROM run_command_on_workers(t) w WHERE NOT w.success;
            IF failed IS NOT NULL THEN
                RAISE EXCEPTION 'smt.distribute: % failed on a worker: %', t, failed
                    USING ERRCODE = 'connection_failure', HINT = 'Every worker must be up and have CREATE EXTENSION smt (Citus runs it there when the coordinator does).';
            END IF;
        END LOOP;
        PERFORM create_distributed_table(by_esiid[1], 'esiid', shard_count => shards, colocate_with => 'none');
        FOREACH t IN ARRAY by_esiid[2:] LOOP
            PERFORM create_distributed_table(t, 'esiid', colocate_with => by_esiid[1]);
        END LOOP;
        PERFORM create_distributed_table('smt.file_content', 'file_id', shard_count => shards, colocate_with => 'none');
        PERFORM create_distributed_table('smt.reject', 'file_id', colocate_with => 'smt.file_content');
        -- Rows loaded before were copied to the shards; the coordinator's own copies of the tables
        -- are emptied, so they take no disk (Citus no longer reads them).
        PERFORM truncate_local_data_after_distributing_table(p.logicalrelid)
           FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
          WHERE c.relnamespace = 'smt'::regnamespace AND c.relkind = 'r';
    END IF;
    -- (partitions, distributed with their table, are left out)
    RETURN QUERY
        SELECT p.logicalrelid::regclass,
               CASE p.partmethod WHEN 'n' THEN 'reference' ELSE 'distributed' END,
               CASE p.partmethod WHEN 'n' THEN NULL ELSE column_to_column_name(p.logicalrelid, p.partkey) END,
               p.colocationid
          FROM pg_dist_partition p
          JOIN pg_class c ON c.oid = p.logicalrelid
         WHERE c.relnamespace = 'smt'::regnamespace AND NOT c.relispartition
         ORDER BY p.partmethod DESC, 3, p.logicalrelid::regclass::text;
END
$$;
COMMENT ON FUNCTION smt.distribute(integer) IS
'On a Citus coordinator: distributes smt''s ESIID-keyed tables by esiid (co-located; shard_count shards, default citus.shard_count), and smt.file_content and smt.reject by file_id (without their keys to smt.file); smt.file, staging and the scheduler''s tables stay on the coordinator. Run once after CREATE EXTENSION smt, by the extension''s owner: rows already loaded move to the workers. Run again, it changes nothing. Returns smt''s distributed tables: how, by which column, and their co-location group (the same for tables whose rows of one key sit together).';

-- 15. Rights, as a fresh install grants them.
GRANT SELECT ON smt.day_total TO smt_reader;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON smt.day_total TO smt_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON smt.delivery_content TO smt_admin;
REVOKE EXECUTE ON FUNCTION smt._stage_records(bigint, boolean), smt._apply_day_totals(bigint, date),
    smt._settle_stage(bigint), smt.load_staged(bigint, bytea, bigint, text),
    smt._register_upload(smt.upload, bytea, bigint, text),
    smt._staged_problem(date, integer, smallint, smallint[], integer[], text[], text, text, smallint, smallint, smallint),
    smt.delivery_keep(bigint, integer, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.load_staged(bigint, bytea, bigint, text), smt.delivery_keep(bigint, integer, bytea) TO smt_loader;
REVOKE EXECUTE ON FUNCTION smt._lock_schema_change(text), smt._raced_unless(boolean, bigint, text) FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON smt.request, smt.request_log TO smt_admin;
GRANT USAGE ON SEQUENCE smt.request_request_id_seq TO smt_admin;
REVOKE EXECUTE ON FUNCTION smt.request_claim(text, text, interval),
    smt.request_progress(bigint, text, interval, bigint[]), smt.request_fulfilled(bigint, text, bigint[]),
    smt.request_retry(bigint, text, text, interval), smt.request_failed(bigint, text, text),
    smt.request_accepted(bigint, text, text, interval), smt._fulfil_by_delivery(bigint), smt._file_carries(text, text),
    smt.request_awaiting_files(bigint, text, text[], text[], bigint[]),
    smt.request_odr_quota(bigint, text, integer),
    smt.request_read_received(bigint, text, numeric, timestamptz, text, text),
    smt.request_usage(text[], text, date, date, text), smt.request_meter_read(text, text, text),
    smt.request_cancel(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.request_claim(text, text, interval),
    smt.request_progress(bigint, text, interval, bigint[]), smt.request_fulfilled(bigint, text, bigint[]),
    smt.request_retry(bigint, text, text, interval), smt.request_failed(bigint, text, text),
    smt.request_accepted(bigint, text, text, interval), smt.request_odr_quota(bigint, text, integer),
    smt.request_awaiting_files(bigint, text, text[], text[], bigint[]),
    smt.request_read_received(bigint, text, numeric, timestamptz, text, text) TO smt_loader;
GRANT EXECUTE ON FUNCTION smt.request_usage(text[], text, date, date, text), smt.request_meter_read(text, text, text),
    smt.request_cancel(bigint) TO smt_admin;
GRANT SELECT ON smt.request, smt.request_log, smt.meter_read TO smt_reader;
REVOKE EXECUTE ON FUNCTION smt._daily_records(bigint, boolean), smt._merge_daily(bigint, boolean) FROM PUBLIC;
GRANT SELECT ON smt.daily_read, smt.daily_read_version TO smt_reader;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON smt.daily_read, smt.daily_read_version TO smt_admin;
GRANT USAGE ON SEQUENCE smt.daily_read_version_version_id_seq TO smt_admin;
REVOKE EXECUTE ON FUNCTION smt.meter_claim(text, interval, timestamptz),
    smt.meter_update(text, text, text, text, text, interval), smt.meter_keep_current(boolean), smt.meter_info_update(text, text, jsonb),
    smt.subscription_steps(text, text[]), smt.subscription_recorded(text, text, text, text),
    smt.subscription_cancelled(bigint), smt.enroll(text, text, text, integer), smt.unenroll(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.meter_claim(text, interval, timestamptz),
    smt.meter_update(text, text, text, text, text, interval), smt.meter_keep_current(boolean), smt.meter_info_update(text, text, jsonb),
    smt.subscription_steps(text, text[]), smt.subscription_recorded(text, text, text, text),
    smt.subscription_cancelled(bigint) TO smt_loader;
GRANT EXECUTE ON FUNCTION smt.enroll(text, text, text, integer), smt.unenroll(text) TO smt_admin;
GRANT SELECT ON smt.meter, smt.meter_status, smt.subscription TO smt_reader;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON smt.meter, smt.meter_status, smt.meter_read, smt.subscription TO smt_admin;
GRANT USAGE ON SEQUENCE smt.subscription_subscription_id_seq TO smt_admin;
REVOKE EXECUTE ON FUNCTION smt._monthly_records(bigint, boolean), smt._merge_monthly(bigint, boolean) FROM PUBLIC;
GRANT SELECT ON smt.monthly_usage, smt.monthly_usage_version, smt.monthly_usage_summary, smt.meter_check,
    smt.meter_check_failures, smt.estimates_replaced, smt.hourly_usage, smt.hourly_profile, smt.hourly_load_shape TO smt_reader;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON smt.monthly_usage, smt.monthly_usage_version, smt.monthly_usage_summary, smt.meter_check,
    smt.meter_check_failures, smt.estimates_replaced, smt.hourly_usage, smt.hourly_profile, smt.hourly_load_shape TO smt_admin;
GRANT USAGE ON SEQUENCE smt.monthly_usage_version_version_id_seq TO smt_admin;
GRANT EXECUTE ON FUNCTION smt.green_button(text, date, date) TO smt_reader;
REVOKE EXECUTE ON FUNCTION smt.distribute(integer) FROM PUBLIC;
