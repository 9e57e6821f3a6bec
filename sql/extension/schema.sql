-- smt schema: files, interval storage (one row per ESIID-channel-day), version history, rejects.
-- Pulled into the extension script by extension/src/lib.rs; every name is schema-qualified so the
-- script and its functions behave the same under any search_path.

CREATE DOMAIN smt.esiid AS text
    CONSTRAINT esiid_check CHECK (VALUE = smt.esiid_normalize(VALUE) AND smt.esiid_valid(VALUE));
COMMENT ON DOMAIN smt.esiid IS 'A Texas ESIID: 17 or 22 digits, normalized (no Excel apostrophe, no spaces).';

CREATE TABLE smt.file (
    file_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    sha256      bytea NOT NULL UNIQUE,
    size_bytes  bigint NOT NULL,
    format      text,
    state       text NOT NULL DEFAULT 'loading' CHECK (state IN ('loading', 'loaded', 'failed')),
    records     integer NOT NULL DEFAULT 0,
    inserted    integer NOT NULL DEFAULT 0,
    replaced    integer NOT NULL DEFAULT 0,
    stale       integer NOT NULL DEFAULT 0,
    identical   integer NOT NULL DEFAULT 0,
    conflicts   integer NOT NULL DEFAULT 0,
    rejected    integer NOT NULL DEFAULT 0,
    error       text,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    loaded_by   text NOT NULL DEFAULT current_user
);
COMMENT ON TABLE smt.file IS 'Every file given to smt.load, once per content (sha256): what it held and what loading it did.';
COMMENT ON COLUMN smt.file.file_id IS 'Identifier referenced by stored days, versions and rejects.';
COMMENT ON COLUMN smt.file.name IS 'File name as given to smt.load (SMT names carry DUNS, report and timestamp).';
COMMENT ON COLUMN smt.file.sha256 IS 'SHA-256 of the content: the same content is never loaded twice, whatever its name.';
COMMENT ON COLUMN smt.file.size_bytes IS 'Size of the content in bytes.';
COMMENT ON COLUMN smt.file.format IS 'Format detected from the content: lse, interval_csv, daily_csv, monthly_csv, interval_json, daily_json (SMT API replies), green_button (ESPI feeds); NULL if unknown.';
COMMENT ON COLUMN smt.file.state IS 'loaded, or failed (the file could not be read as a usage file; see error).';
COMMENT ON COLUMN smt.file.records IS 'Good records (ESIID-channel-day versions) in the file.';
COMMENT ON COLUMN smt.file.inserted IS 'Records for ESIID-channel-days not stored before.';
COMMENT ON COLUMN smt.file.replaced IS 'Records that replaced an older stored version (which moved to smt.interval_version).';
COMMENT ON COLUMN smt.file.stale IS 'Records older than the stored version: kept in smt.interval_version, not applied.';
COMMENT ON COLUMN smt.file.identical IS 'Records equal to the stored version: nothing written.';
COMMENT ON COLUMN smt.file.conflicts IS 'Records with the same revision as the stored version but other values, settled by the tie-break rule.';
COMMENT ON COLUMN smt.file.rejected IS 'Bad records, each in smt.reject.';
COMMENT ON COLUMN smt.file.error IS 'Why a failed file could not be loaded.';
COMMENT ON COLUMN smt.file.loaded_at IS 'When the file was loaded.';
COMMENT ON COLUMN smt.file.loaded_by IS 'Database role that loaded it (the session''s login role: smt.load runs as its owner).';

-- A file's bytes in numbered parts of at most 8 MiB (smt.load_part splits what it is given), so a
-- file of any size can be kept and read back a part at a time. The reference to smt.file is
-- checked at commit: the parts arrive (smt.load_part) before the file is registered under the id
-- its load reserved (smt.load_end), all in one transaction.
CREATE TABLE smt.file_content (
    file_id bigint NOT NULL REFERENCES smt.file ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    part    integer NOT NULL CHECK (part >= 0),
    -- lz4, not PostgreSQL's default pglz: pglz took 45% of a load's time to compress LSE text
    -- (measured: a 68 MB report stores in 1.36 s with pglz, 0.24 s with lz4).
    data    bytea COMPRESSION lz4 NOT NULL,
    PRIMARY KEY (file_id, part)
);
COMMENT ON TABLE smt.file_content IS 'The raw bytes of every loaded file, in parts, kept so any load can be checked or redone: the file is its parts'' data in part order.';
COMMENT ON COLUMN smt.file_content.file_id IS 'The file (smt.file).';
COMMENT ON COLUMN smt.file_content.part IS 'Position of this part in the file, from 0 (a file loaded before version 0.3.0 is one part 0).';
COMMENT ON COLUMN smt.file_content.data IS 'This part of the file exactly as given to smt.load or smt.load_part (at most 8 MiB).';

-- One row per ESIID, channel and operating day. Values are exact scaled integers:
-- kwh[i] = units16[i] (or units[i]) × 10^-scale (see smt_core::storage). units16 holds the usual
-- day, whose units all fit 16 bits (2 bytes an interval: a row is about 440 bytes instead of 630);
-- units the day that needs 32 bits; kwh_exact the rare day whose values overflow 32-bit units. Partitioned by month of operating day; partitions are made on demand by
-- smt._ensure_partitions. Fillfactor stays at 100: measured, 85 (room for HOT replacements) costs
-- 9.1 bytes per interval against 7.7 at 100. A replacement leaves a dead row that autovacuum
-- reclaims; SMT re-sends only a fraction of days, so the heap grows by that fraction until vacuum.
-- The key (esiid, channel, day) is each partition's own primary key, not the parent's: partitions
-- are not extension members, and pg_restore cannot attach a dumped partition that brings its own
-- key to a parent that already has one. day is the partition key, so the keys together are unique.
CREATE TABLE smt.interval_day (
    esiid            text NOT NULL,
    channel          smallint NOT NULL,
    day              date NOT NULL,
    revision         timestamptz NOT NULL,
    first_start      timestamptz NOT NULL,
    interval_seconds integer NOT NULL,
    scale            smallint NOT NULL,
    units16          smallint[],
    units            integer[],
    kwh_exact        numeric[],
    status           text NOT NULL,
    transaction_id   text,
    file_id          bigint NOT NULL,
    loaded_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT interval_day_values CHECK (num_nonnulls(units16, units, kwh_exact) = 1)
) PARTITION BY RANGE (day);
COMMENT ON TABLE smt.interval_day IS 'Current version of each ESIID-channel-operating day: interval values as exact scaled integers. Query smt.interval for one row per interval.';
COMMENT ON COLUMN smt.interval_day.esiid IS 'ESIID (normalized).';
COMMENT ON COLUMN smt.interval_day.channel IS 'ERCOT channel: 4 load (consumption), 1 generation (surplus).';
COMMENT ON COLUMN smt.interval_day.day IS 'Operating day, Central prevailing time.';
COMMENT ON COLUMN smt.interval_day.revision IS 'When this version was made (LSE 00000004, CSV REVISION_DATE); newer replaces older.';
COMMENT ON COLUMN smt.interval_day.first_start IS 'Start of the first interval (local midnight of the operating day).';
COMMENT ON COLUMN smt.interval_day.interval_seconds IS 'Interval length in seconds (900 for SMT).';
COMMENT ON COLUMN smt.interval_day.scale IS 'Decimal scale of units: kwh = units × 10^-scale.';
COMMENT ON COLUMN smt.interval_day.units16 IS 'Interval values as scaled integers, in time order, when they all fit 16 bits (the usual day); NULL element = missing interval.';
COMMENT ON COLUMN smt.interval_day.units IS 'Interval values as scaled integers, in time order, for a day whose units need 32 bits; NULL element = missing interval.';
COMMENT ON COLUMN smt.interval_day.kwh_exact IS 'Interval values as numeric, only for days whose values do not fit units.';
COMMENT ON COLUMN smt.interval_day.status IS 'One character per interval: A actual, E estimated, - missing.';
COMMENT ON COLUMN smt.interval_day.transaction_id IS 'LSE transaction id (00000003); NULL for CSV.';
COMMENT ON COLUMN smt.interval_day.file_id IS 'File this version came from (smt.file).';
COMMENT ON COLUMN smt.interval_day.loaded_at IS 'When this version was stored.';

CREATE TABLE smt.interval_version (
    version_id         bigint GENERATED ALWAYS AS IDENTITY,
    esiid              text NOT NULL,
    channel            smallint NOT NULL,
    day                date NOT NULL,
    revision           timestamptz NOT NULL,
    first_start        timestamptz NOT NULL,
    interval_seconds   integer NOT NULL,
    scale              smallint NOT NULL,
    units16            smallint[],
    units              integer[],
    kwh_exact          numeric[],
    status             text NOT NULL,
    transaction_id     text,
    file_id            bigint NOT NULL,
    loaded_at          timestamptz NOT NULL,
    outcome            text NOT NULL CHECK (outcome IN ('replaced', 'stale', 'conflict_lost', 'superseded_in_file')),
    decided_by_file_id bigint NOT NULL,
    decided_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT interval_version_values CHECK (num_nonnulls(units16, units, kwh_exact) = 1),
    -- The key leads with the ESIID so that the table distributes by ESIID (Citus) unchanged: a
    -- distributed table's keys must hold its distribution column. version_id alone is unique too.
    PRIMARY KEY (esiid, version_id)
);
CREATE INDEX interval_version_day_idx ON smt.interval_version (esiid, channel, day);
COMMENT ON TABLE smt.interval_version IS 'Every version of an ESIID-channel-day that is not the current one: replaced versions, stale arrivals, conflict losers. With smt.interval_day, every version ever received.';
COMMENT ON COLUMN smt.interval_version.version_id IS 'Identifier of this history row.';
COMMENT ON COLUMN smt.interval_version.esiid IS 'ESIID (normalized).';
COMMENT ON COLUMN smt.interval_version.channel IS 'ERCOT channel: 4 load, 1 generation.';
COMMENT ON COLUMN smt.interval_version.day IS 'Operating day, Central prevailing time.';
COMMENT ON COLUMN smt.interval_version.revision IS 'Revision timestamp of this version.';
COMMENT ON COLUMN smt.interval_version.first_start IS 'Start of the first interval.';
COMMENT ON COLUMN smt.interval_version.interval_seconds IS 'Interval length in seconds.';
COMMENT ON COLUMN smt.interval_version.scale IS 'Decimal scale of units.';
COMMENT ON COLUMN smt.interval_version.units16 IS 'Interval values as scaled integers when they all fit 16 bits (NULL element = missing).';
COMMENT ON COLUMN smt.interval_version.units IS 'Interval values as scaled integers needing 32 bits (NULL element = missing).';
COMMENT ON COLUMN smt.interval_version.kwh_exact IS 'Interval values as numeric when they do not fit units.';
COMMENT ON COLUMN smt.interval_version.status IS 'One character per interval: A, E, or - for missing.';
COMMENT ON COLUMN smt.interval_version.transaction_id IS 'LSE transaction id.';
COMMENT ON COLUMN smt.interval_version.file_id IS 'File this version came from.';
COMMENT ON COLUMN smt.interval_version.loaded_at IS 'When this version was first stored or received.';
COMMENT ON COLUMN smt.interval_version.outcome IS 'replaced (by a newer revision), stale (arrived older than the stored one), conflict_lost (same revision, lost the tie-break), superseded_in_file (a file held a newer version of the same day).';
COMMENT ON COLUMN smt.interval_version.decided_by_file_id IS 'File whose load moved this version here.';
COMMENT ON COLUMN smt.interval_version.decided_at IS 'When it was moved here.';

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

-- Keyed by file first: a reject belongs to its file (its ESIID may be unreadable, hence NULL), and
-- on Citus the table is distributed by file_id beside smt.file_content, where a key must hold the
-- distribution column (see smt.distribute).
CREATE TABLE smt.reject (
    reject_id   bigint GENERATED ALWAYS AS IDENTITY,
    file_id     bigint NOT NULL REFERENCES smt.file ON DELETE CASCADE,
    line        bigint NOT NULL,
    field       text NOT NULL,
    kind        text NOT NULL,
    reason      text NOT NULL,
    raw         text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    esiid       text,
    channel     smallint,
    day         date,
    PRIMARY KEY (file_id, reject_id)
);
-- The latest rejects first (smt.reject_log, `smt status`).
CREATE INDEX reject_id_idx ON smt.reject (reject_id);
COMMENT ON TABLE smt.reject IS 'Records that could not be loaded, one row each, with where and why, and which ESIID-channel-day they held when known. The whole file stays in smt.file_content.';
COMMENT ON COLUMN smt.reject.reject_id IS 'Identifier of the reject.';
COMMENT ON COLUMN smt.reject.file_id IS 'File the record came from.';
COMMENT ON COLUMN smt.reject.line IS '1-based line of the offending row.';
COMMENT ON COLUMN smt.reject.field IS 'Field or row at fault, e.g. 00000001.esiid, USAGE_KWH, interval 17 value.';
COMMENT ON COLUMN smt.reject.kind IS 'Kind of problem: wrong_interval_count, non_numeric_value, unknown_status, invalid_esiid, bad_timestamp, truncated_record, missing_field, invalid_text (a NUL byte or invalid UTF-8), out_of_sequence, day_out_of_range (before 2000 or after tomorrow), revision_in_future, ...';
COMMENT ON COLUMN smt.reject.reason IS 'What is wrong, in words.';
COMMENT ON COLUMN smt.reject.raw IS 'Text of the offending line.';
COMMENT ON COLUMN smt.reject.rejected_at IS 'When it was rejected.';
COMMENT ON COLUMN smt.reject.esiid IS 'ESIID of the record the reject belongs to, when the file says it (NULL when even that could not be read).';
COMMENT ON COLUMN smt.reject.channel IS 'Channel of that record, when known.';
COMMENT ON COLUMN smt.reject.day IS 'Operating day of that record, when known: with esiid, which ESIID-day a reject cost.';

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

-- Monthly partitions of smt.interval_day, made when a load needs them: only the months that hold
-- data (a stray day in 1900 makes one partition, not 1,500). Called by smt.load, which runs as the
-- extension's owner, so loaders need no CREATE privilege; of two loads needing the same month,
-- one makes it (smt._lock_schema_change). Partitions made here are not members of the extension:
-- pg_dump writes them with their rows like any table of the database.
CREATE FUNCTION smt._ensure_partitions(months date[]) RETURNS integer
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

-- pg_dump writes the rows of these tables (and the positions of their identity sequences): they
-- hold the meter data and the scheduler's state, not configuration the extension recreates.
SELECT pg_catalog.pg_extension_config_dump('smt.file', '');
SELECT pg_catalog.pg_extension_config_dump('smt.file_file_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('smt.file_content', '');
SELECT pg_catalog.pg_extension_config_dump('smt.interval_day', '');
SELECT pg_catalog.pg_extension_config_dump('smt.interval_version', '');
SELECT pg_catalog.pg_extension_config_dump('smt.day_total', '');
SELECT pg_catalog.pg_extension_config_dump('smt.interval_version_version_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('smt.reject', '');
SELECT pg_catalog.pg_extension_config_dump('smt.reject_reject_id_seq', '');

-- kwh of one interval from the storage columns, exactly (the scale is kept: units 580 at scale 3 is 0.580).
CREATE FUNCTION smt.kwh(units integer, scale smallint, kwh_exact numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- A SQL-standard body is bound when created, so it is immune to the caller's search_path and
-- can still be inlined into the views.
RETURN CASE WHEN kwh_exact IS NOT NULL THEN kwh_exact
            ELSE round(units::numeric / (10::numeric ^ scale), scale) END;
COMMENT ON FUNCTION smt.kwh(integer, smallint, numeric) IS 'Exact kWh of one interval from smt.interval_day storage columns.';

-- Demand of one interval: its energy spread over an hour. SMT's interval lengths divide the hour,
-- so the factor is a whole number and the kW keep the kWh's exact digits (0.580 kWh in 15 minutes
-- is 2.320 kW).
CREATE FUNCTION smt._demand_kw(kwh numeric, interval_seconds integer) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN 3600 % interval_seconds = 0 THEN kwh * (3600 / interval_seconds)
            ELSE kwh * 3600 / interval_seconds END;
COMMENT ON FUNCTION smt._demand_kw(numeric, integer) IS 'kW of an interval of interval_seconds holding kwh: exact when the length divides the hour, as SMT''s all do.';
