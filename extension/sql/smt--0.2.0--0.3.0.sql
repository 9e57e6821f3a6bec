-- smt 0.2.0 -> 0.3.0. Frozen once released, like every script in extension/sql: a later change
-- ships as its own smt--0.3.0--X.sql. tests/tests/upgrade.rs proves that this script turns a
-- 0.2.0 (or 0.1.0) database holding data into exactly the schema of a fresh 0.3.0 install, rows
-- intact.
--
-- What 0.3.0 changes:
--   * A file of any size loads with bounded memory: smt.load_begin / smt.load_part / smt.load_end
--     take it in parts within one transaction (smt.load(bytea, name) still takes a file in one
--     piece, through them). smt.file_content keeps a file as numbered parts of at most 8 MiB, and
--     smt._stage_file(file_id, lenient) parses it a part at a time; smt._register_file is gone
--     and smt.file_bytes(file_id) gives a kept file back in one value.

-- 1. Raw bytes in parts: what 0.2.0 kept becomes part 0 of its file. The reference to smt.file
-- is checked at commit, since parts arrive before their file is registered.
ALTER TABLE smt.file_content DROP CONSTRAINT file_content_pkey;
ALTER TABLE smt.file_content ADD COLUMN part integer NOT NULL DEFAULT 0 CHECK (part >= 0);
ALTER TABLE smt.file_content ALTER COLUMN part DROP DEFAULT;
ALTER TABLE smt.file_content ADD PRIMARY KEY (file_id, part);
ALTER TABLE smt.file_content ALTER CONSTRAINT file_content_file_id_fkey DEFERRABLE INITIALLY DEFERRED;
COMMENT ON TABLE smt.file_content IS 'The raw bytes of every loaded file, in parts, kept so any load can be checked or redone: the file is its parts'' data in part order.';
COMMENT ON COLUMN smt.file_content.file_id IS 'The file (smt.file).';
COMMENT ON COLUMN smt.file_content.part IS 'Position of this part in the file, from 0 (a file loaded before version 0.3.0 is one part 0).';
COMMENT ON COLUMN smt.file_content.data IS 'This part of the file exactly as given to smt.load or smt.load_part (at most 8 MiB).';

-- 2. Parsing from the kept parts.
DROP FUNCTION smt._register_file(bytea, text, text);
CREATE FUNCTION smt."_stage_file"(
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
	"units" INT[],  /* :: std :: option :: Option < Vec < Option < i32 > > > */
	"kwh_exact" TEXT[],  /* :: std :: option :: Option < Vec < Option < String > > > */
	"status" TEXT,  /* Option < String > */
	"transaction_id" TEXT,  /* Option < String > */
	"line" bigint,  /* i64 */
	"field" TEXT,  /* Option < String > */
	"kind" TEXT,  /* Option < String > */
	"reason" TEXT,  /* Option < String > */
	"raw" TEXT  /* Option < String > */
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_stage_file_wrapper';
COMMENT ON FUNCTION smt._stage_file(bigint, boolean) IS 'Staging rows of a file kept in smt.file_content: one per record (role record) or bad record (role reject), in file order, parsed a part at a time as the rows are read (bounded memory). smt.stage has its columns. Internal to smt.load_end.';
COMMENT ON FUNCTION smt._stage(bytea, boolean) IS 'Staging rows of a file given as bytes: the rows smt._stage_file gives for the same file. Shows how a file would load without loading it (smt.load used it before version 0.3.0).';

CREATE FUNCTION smt."_content_summary"(
	"file_id" bigint /* i64 */
) RETURNS TABLE (
	"sha256" bytea,  /* Vec < u8 > */
	"size_bytes" bigint,  /* i64 */
	"head" bytea  /* Vec < u8 > */
)
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_content_summary_wrapper';
COMMENT ON FUNCTION smt._content_summary(bigint) IS 'The SHA-256, size and first 64 KiB of a file kept in smt.file_content, in one pass over its parts. Internal to smt.load_end.';

-- 3. Loads in parts.
-- Loads in progress: one row from smt.load_begin to smt.load_end, in one transaction.
CREATE TABLE smt.upload (
    upload_id     bigint PRIMARY KEY,
    file_name     text NOT NULL,
    lenient_esiid boolean NOT NULL,
    uploaded_by   text NOT NULL,
    xact          xid8 NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE smt.upload IS 'Loads in progress (smt.load_begin to smt.load_end, within one transaction): what the file will be registered as. Written only by the load functions; never granted.';
COMMENT ON COLUMN smt.upload.upload_id IS 'The handle smt.load_begin returned: the id reserved for the file in smt.file, under which its parts are kept in smt.file_content (a file whose content was registered before keeps its first id instead).';
COMMENT ON COLUMN smt.upload.file_name IS 'File name as given to smt.load_begin.';
COMMENT ON COLUMN smt.upload.lenient_esiid IS 'Whether ESIIDs are read leniently (the LSE spec''s 1-64 letters and digits).';
COMMENT ON COLUMN smt.upload.uploaded_by IS 'Login role (session_user) that began the load: only it may add parts and end it.';
COMMENT ON COLUMN smt.upload.xact IS 'Transaction that began the load: parts and the end must come in the same transaction.';
COMMENT ON COLUMN smt.upload.started_at IS 'When the load began.';

CREATE FUNCTION smt._upload(upload_id bigint) RETURNS smt.upload
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u smt.upload;
BEGIN
    SELECT x.* INTO u FROM smt.upload x WHERE x.upload_id = _upload.upload_id;
    IF NOT FOUND OR u.uploaded_by <> session_user THEN
        RAISE EXCEPTION 'no load % is in progress for role %', upload_id, session_user
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Begin one with smt.load_begin(file_name) and use the id it returns, in the same transaction; a load ends with smt.load_end.';
    END IF;
    IF u.xact <> pg_current_xact_id() THEN
        RAISE EXCEPTION 'load % was begun in another transaction', upload_id
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'A file''s parts and its end must come in the transaction that began it, so that a file is kept and loaded whole or not at all.',
                  HINT = 'Run smt.load_begin, smt.load_part and smt.load_end between one BEGIN and COMMIT.';
    END IF;
    RETURN u;
END
$$;
COMMENT ON FUNCTION smt._upload(bigint) IS 'The load in progress with this id, if the session''s login role began it in this transaction; an error otherwise. Internal to smt.load_part and smt.load_end.';

CREATE FUNCTION smt.load_begin(file_name text, lenient_esiid boolean DEFAULT false) RETURNS bigint
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

CREATE FUNCTION smt.load_part(upload_id bigint, data bytea) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    -- Parts are kept at most this long, so reading a file back holds no more than this at once.
    part_bytes constant integer := 8388608;
    u smt.upload;
    next_part integer;
BEGIN
    IF upload_id IS NULL OR data IS NULL THEN
        RAISE EXCEPTION 'smt.load_part needs the load''s id and the bytes, neither of them NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the id smt.load_begin returned and the next bytes of the file.';
    END IF;
    u := smt._upload(upload_id);
    SELECT coalesce(max(c.part) + 1, 0) INTO next_part FROM smt.file_content c WHERE c.file_id = u.upload_id;
    FOR i IN 0 .. ceil(octet_length(data)::numeric / part_bytes)::integer - 1 LOOP
        INSERT INTO smt.file_content (file_id, part, data)
        VALUES (u.upload_id, next_part + i, substring(data FROM i * part_bytes + 1 FOR part_bytes));
    END LOOP;
    RETURN (SELECT coalesce(sum(octet_length(c.data)), 0) FROM smt.file_content c WHERE c.file_id = u.upload_id);
END
$$;
COMMENT ON FUNCTION smt.load_part(bigint, bytea) IS
'Adds the next bytes of a file to the load begun by smt.load_begin (in this transaction, by this login role); returns how many bytes the load has received so far. Any size up to PostgreSQL''s 1 GB value; kept in parts of at most 8 MiB.';

CREATE FUNCTION smt.load_end(upload_id bigint) RETURNS smt.load_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    u smt.upload;
    content record;
    detected text;
    existing record;
    target bigint;
    result smt.load_result;
BEGIN
    IF upload_id IS NULL THEN
        RAISE EXCEPTION 'smt.load_end needs the load''s id, not NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the id smt.load_begin returned.';
    END IF;
    u := smt._upload(upload_id);
    DELETE FROM smt.upload x WHERE x.upload_id = u.upload_id;
    -- The digest is computed here, from the bytes that are kept.
    SELECT s.* INTO content FROM smt._content_summary(u.upload_id) s;
    detected := smt.detect_format(content.head);
    PERFORM pg_advisory_xact_lock(hashtext('smt.load'));
    SELECT f.file_id, f.state = 'loaded' AS loaded INTO existing FROM smt.file f WHERE f.sha256 = content.sha256;
    IF FOUND THEN
        -- The same content was given before and its bytes are kept: this copy goes.
        DELETE FROM smt.file_content c WHERE c.file_id = u.upload_id;
        IF existing.loaded THEN
            -- This load did nothing, so every count is 0 (smt.file keeps what the first load
            -- did): totals over many loads never count a file twice.
            SELECT f.file_id, f.format, true, f.error, 0, 0, 0, 0, 0, 0, 0
              INTO result FROM smt.file f WHERE f.file_id = existing.file_id;
            RAISE NOTICE 'smt.load: % has the same content as file % already loaded; nothing changed',
                u.file_name, existing.file_id;
            RETURN result;
        END IF;
        -- Content that failed before (a format this version could not load then) is tried again
        -- under its first registration; only loaded content counts as already loaded.
        UPDATE smt.file f SET state = 'loading', error = NULL WHERE f.file_id = existing.file_id;
        target := existing.file_id;
    ELSE
        PERFORM smt._guard_meter_data();
        INSERT INTO smt.file (file_id, name, sha256, size_bytes, format, loaded_by)
        OVERRIDING SYSTEM VALUE
        VALUES (u.upload_id, u.file_name, content.sha256, content.size_bytes, detected, u.uploaded_by);
        target := u.upload_id;
    END IF;

    IF detected IS NULL OR detected NOT IN ('lse', 'interval_csv') THEN
        result := ROW(target, detected, false,
                      CASE WHEN detected IS NULL THEN 'not an LSE or SMT CSV report (unknown content)'
                           ELSE format('%s reports are not loaded yet (only LSE and SMT interval CSV)', detected) END,
                      0, 0, 0, 0, 0, 0, 0)::smt.load_result;
        UPDATE smt.file f SET state = 'failed', error = result.error WHERE f.file_id = target;
        RAISE WARNING 'smt.load: %: %; kept as file % with state failed', u.file_name, result.error, target;
        RETURN result;
    END IF;

    INSERT INTO smt.stage SELECT target, s.*, NULL FROM smt._stage_file(target, u.lenient_esiid) s;
    RETURN smt._merge_stage(target);
END
$$;
COMMENT ON FUNCTION smt.load_end(bigint) IS
'Ends a load begun by smt.load_begin: registers the file by the SHA-256 of the bytes received, keeps them, and loads it as smt.load does (same result). Loading the same content twice changes nothing (already_loaded = true).';

CREATE FUNCTION smt.file_bytes(file_id bigint) RETURNS bytea
LANGUAGE sql STABLE
RETURN (SELECT coalesce(string_agg(c.data, '\x'::bytea ORDER BY c.part), '\x'::bytea)
          FROM smt.file f LEFT JOIN smt.file_content c ON c.file_id = f.file_id
         WHERE f.file_id = file_bytes.file_id
         GROUP BY f.file_id);
COMMENT ON FUNCTION smt.file_bytes(bigint) IS 'The bytes of a loaded file exactly as given (its parts in smt.file_content, in order); NULL when there is no such file. For files under 1 GB; needs SELECT on smt.file_content.';

CREATE OR REPLACE FUNCTION smt.load(data bytea, file_name text, lenient_esiid boolean DEFAULT false)
RETURNS smt.load_result
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    upload bigint;
BEGIN
    IF data IS NULL OR file_name IS NULL OR lenient_esiid IS NULL THEN
        RAISE EXCEPTION 'smt.load needs the file''s bytes, its name and lenient_esiid, none of them NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = format('data %s, file_name %s, lenient_esiid %s',
                                  CASE WHEN data IS NULL THEN 'is NULL' ELSE 'given' END,
                                  CASE WHEN file_name IS NULL THEN 'is NULL' ELSE 'given' END,
                                  CASE WHEN lenient_esiid IS NULL THEN 'is NULL' ELSE 'given' END),
                  HINT = 'Call smt.load(pg_read_binary_file(...), ''name''), or use `smt import FILE`.';
    END IF;
    upload := smt.load_begin(file_name, lenient_esiid);
    PERFORM smt.load_part(upload, data);
    RETURN smt.load_end(upload);
END
$$;
COMMENT ON FUNCTION smt.load(bytea, text, boolean) IS
'Loads one LSE or SMT interval CSV file: newer revisions replace stored days (the old version moves to smt.interval_version), older ones are kept as stale, bad records go to smt.reject, and the raw file is kept. Loading the same content twice changes nothing (already_loaded = true). The way data enters smt, for a file in one piece; smt.load_begin / smt.load_part / smt.load_end stream a file of any size.';

-- 4. Who may call what (as roles.sql grants it in a fresh install).
REVOKE EXECUTE ON FUNCTION smt.load_begin(text, boolean), smt.load_part(bigint, bytea), smt.load_end(bigint),
    smt._upload(bigint), smt._content_summary(bigint), smt._stage_file(bigint, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION smt.load_begin(text, boolean), smt.load_part(bigint, bytea), smt.load_end(bigint) TO smt_loader;
REVOKE ALL ON smt.upload FROM smt_admin;
