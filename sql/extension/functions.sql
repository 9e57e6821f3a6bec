-- Comments on the functions written in Rust (extension/src/*_sql.rs): pgrx creates them, and
-- every object of the extension says what it is for.
COMMENT ON FUNCTION smt.esiid_normalize(text) IS 'An ESIID as SMT files write it, normalized: spaces and the spreadsheet apostrophe removed.';
COMMENT ON FUNCTION smt.esiid_valid(text, boolean) IS 'Whether an ESIID is valid: 17 or 22 digits (strict), or 1-64 letters and digits as the LSE spec allows (lenient = true).';
COMMENT ON FUNCTION smt.esiid_tdsp(text) IS 'The transmission and distribution service provider (TDSP) an ESIID belongs to, from its prefix; NULL when the prefix is not known.';
COMMENT ON FUNCTION smt.detect_format(bytea) IS 'The format of a file from its content: lse, interval_csv, daily_csv, monthly_csv; NULL when unknown.';
COMMENT ON FUNCTION smt.day_slots(date, integer) IS 'How many intervals of the given length an operating day (Central prevailing time) has: 96, or 92 / 100 on DST days at 15 minutes.';
COMMENT ON FUNCTION smt.lse_parse(bytea, boolean) IS 'Parses an LSE file into one row per interval, with the bad records as rows carrying their error; changes nothing in the database.';
COMMENT ON FUNCTION smt.csv_parse(bytea, boolean) IS 'Parses an SMT interval CSV file into one row per interval, with the bad rows carrying their error; changes nothing in the database.';
COMMENT ON FUNCTION smt.cron_next(text, text, timestamp with time zone) IS 'The first time after the given instant that a 5-field crontab line matches, read in the given time zone (DST-safe).';
COMMENT ON FUNCTION smt._stage_file(bigint, boolean) IS 'Staging rows of a file kept in smt.file_content in the shape smt 0.3.0 loaded them (kept for databases not yet updated to this version''s SQL): one per record (role record) or bad record (role reject), in file order, parsed a part at a time as the rows are read (bounded memory).';
COMMENT ON FUNCTION smt._stage_records(bigint, boolean) IS 'Staging rows of a file kept in smt.file_content: one per record (role record, with its values in 16-bit units when they fit and its totals) or bad record (role reject), in file order, parsed a part at a time as the rows are read (bounded memory). smt.stage has its columns. Internal to smt.load_end.';
COMMENT ON FUNCTION smt._stage(bytea, boolean) IS 'Staging rows of a file given as bytes: the rows smt._stage_file gives for the same file. Shows how a file would load without loading it (smt.load used it before version 0.3.0).';
COMMENT ON FUNCTION smt._content_summary(bigint) IS 'The SHA-256, size and first 64 KiB of a file kept in smt.file_content, in one pass over its parts. Internal to smt.load_end.';
COMMENT ON FUNCTION smt._decide(timestamp with time zone, smallint, integer[], numeric[], text, timestamp with time zone, smallint, integer[], numeric[], text) IS 'The replacement rule (smt-core) on a stored and an incoming version of an ESIID-channel-day: replace, replace_conflict, keep, keep_conflict or identical.';
