# smt — the two commands a user needs are `make demo` and `make test` (see README.md).
# Every target installs what it needs first; scripts/setup.sh skips what is already there.

SHELL := /bin/bash
CARGO ?= cargo
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
# Scratch space for test clusters: must be reachable by the unprivileged cluster user.
SMT_TMP ?= /tmp/smt-$(shell id -u)
# A free loopback port for the end-to-end cluster, so a cluster left running never collides.
E2E_PORT ?= $(shell python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SUDO_FLAG := $(if $(filter 0,$(shell id -u)),,--sudo)

.PHONY: all setup build install install-dev lint check-released test test-core test-extension test-e2e test-citus test-bench demo bench bench-citus bench-parser fmt clean

# The test targets never skip a check: a test missing a part it needs (the cluster, gpg, zip,
# vsftpd, root, ../shared/fixtures) fails, naming the part, instead of passing with a message
# (smt_core::test_support). `make test-core SMT_REQUIRE_ALL_PARTS=0` lets a laptop skip them;
# CI=true (.ci/run sets it) requires every part whatever this says.
test lint test-core test-extension test-e2e test-citus: export SMT_REQUIRE_ALL_PARTS ?= 1

# Every test binary of the scheduler but the ones that need the cluster test-e2e starts.
SCHEDULER_DB_TESTS := scheduler/tests/citus_e2e.rs scheduler/tests/export.rs scheduler/tests/scheduler_e2e.rs scheduler/tests/smt_api_e2e.rs scheduler/tests/sftp_e2e.rs scheduler/tests/soap_e2e.rs scheduler/tests/plot.rs
SCHEDULER_TESTS := $(patsubst scheduler/tests/%.rs,--test %,$(filter-out $(SCHEDULER_DB_TESTS),$(wildcard scheduler/tests/*.rs)))

all: build

setup:
	bash scripts/setup.sh all

build:
	$(CARGO) build --release -p smt

# Builds the extension against Debian's PostgreSQL 15 and installs it there; after this,
# CREATE EXTENSION smt works in any database of any cluster of that installation.
# The released scripts pgrx does not install itself (older versions' install scripts) go beside
# them, so `ALTER EXTENSION smt UPDATE` works from every released version.
install: setup
	cd extension && $(CARGO) pgrx install --release --pg-config $(PG_CONFIG) $(SUDO_FLAG)
	bash scripts/released.sh install

install-dev: setup
	cd extension && $(CARGO) pgrx install --pg-config $(PG_CONFIG) $(SUDO_FLAG)
	bash scripts/released.sh install

# Released install and upgrade scripts are frozen (extension/sql/SHA256SUMS), and the current
# version's SQL, once released, may not change without a new version and an upgrade script.
check-released: setup
	bash scripts/released.sh check

# Formatting and clippy (every crate and target, warnings denied), first in `make test` so it fails
# fast. Building the extension needs pgrx's configuration (cargo pgrx init), hence setup.
lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Unit, property, fixture and CLI tests of the pure-Rust crates; the scheduler's FTPS (real
# vsftpd) and OpenPGP (real GnuPG) tests. The scheduler's database tests (scheduler_e2e) are left
# out here and run in test-e2e, against a cluster.
test-core:
	$(CARGO) test -p smt-core
	$(CARGO) test -p smt --lib --bins $(SCHEDULER_TESTS)
	$(CARGO) test -p smt --doc

# pgrx #[pg_test]s, in a throwaway cluster run by the unprivileged user.
test-extension: setup
	mkdir -p $(SMT_TMP) && chmod 755 $(SMT_TMP)
	rm -rf $(SMT_TMP)/pgrx-test && mkdir -p $(SMT_TMP)/pgrx-test && chown smt $(SMT_TMP)/pgrx-test
	cd extension && $(CARGO) pgrx test pg15 --runas smt --pgdata $(SMT_TMP)/pgrx-test/data

# End-to-end tests against a real cluster with the extension installed (pgrx test installs a
# build with test functions, so the plain build is installed again first), then the SQL golden
# suite (tests/regress: pg_regress, sql/ in, expected/ out).
test-e2e: install-dev
	mkdir -p $(SMT_TMP) && chmod 755 $(SMT_TMP)
	bash scripts/pg.sh stop $(SMT_TMP)/e2e-pg
	rm -rf $(SMT_TMP)/e2e-pg
	port=$(E2E_PORT); bash scripts/pg.sh start $(SMT_TMP)/e2e-pg $$port && \
	  export SMT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$$port/postgres && \
	  $(CARGO) test -p smt-e2e && $(CARGO) test -p smt --test scheduler_e2e --test smt_api_e2e --test sftp_e2e --test soap_e2e --test plot --test export && \
	  bash scripts/regress.sh --port $$port; \
	  status=$$?; bash scripts/pg.sh stop $(SMT_TMP)/e2e-pg; exit $$status

# smt on a real Citus cluster (scheduler/tests/citus_e2e.rs): Citus built from ../shared/vendor and
# installed if missing (scripts/citus.sh install), a coordinator and two workers on three free
# loopback ports and a plain cluster beside them (single-node comparisons), all run by the
# unprivileged user and removed afterwards. The extension under test is the one test-e2e installed.
CITUS_PORT ?= $(shell bash scripts/citus.sh free-port)
test-citus: install-dev
	bash scripts/citus.sh install
	mkdir -p $(SMT_TMP) && chmod 755 $(SMT_TMP)
	bash scripts/citus.sh stop $(SMT_TMP)/citus; bash scripts/pg.sh stop $(SMT_TMP)/citus-single
	rm -rf $(SMT_TMP)/citus $(SMT_TMP)/citus-single
	base=$(CITUS_PORT); single=$(E2E_PORT); \
	  bash scripts/citus.sh start $(SMT_TMP)/citus $$base && bash scripts/pg.sh start $(SMT_TMP)/citus-single $$single && \
	  export SMT_CITUS_URL=$$(bash scripts/citus.sh url $$base) SMT_CITUS_DIR=$(SMT_TMP)/citus \
	    SMT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$$single/postgres && \
	  $(CARGO) test -p smt --test citus_e2e; \
	  status=$$?; bash scripts/citus.sh stop $(SMT_TMP)/citus; bash scripts/pg.sh stop $(SMT_TMP)/citus-single; exit $$status

# The end-to-end benchmark at smoke size (20,000 ESIIDs, under a minute once built), as a test:
# it fails on any exactness error, never on speed. Outputs go to scratch, not to the repository.
# The extension under test is the one test-e2e installed.
test-bench: install-dev
	mkdir -p $(SMT_TMP)/bench-out && chmod 755 $(SMT_TMP)
	SMT_BENCH_ESIIDS=20000 SMT_BENCH_OUT_MD=$(SMT_TMP)/bench-out/BENCHMARKS.md \
	  SMT_BENCH_OUT_JSON=$(SMT_TMP)/bench-out/benchmarks.json \
	  SMT_BENCH_COMMAND="make test-bench" bash scripts/bench-e2e.sh

test: setup lint check-released test-core test-extension test-e2e test-citus test-bench

demo: setup
	bash scripts/demo.sh

# End-to-end benchmark: generated data (SMT_BENCH_ESIIDS meters, default 20,000; the documented
# run is `make bench SMT_BENCH_ESIIDS=2500000`) imported with `smt import` against the machine's
# COPY floor, checked exactly; rewrites the bench section of BENCHMARKS.md and benchmarks.json.
# See scripts/bench-e2e.sh for its settings (SMT_BENCH_DATA caches the generated files).
bench: install
	SMT_BENCH_COMMAND="make bench$(if $(SMT_BENCH_ESIIDS), SMT_BENCH_ESIIDS=$(SMT_BENCH_ESIIDS))" \
	  bash scripts/bench-e2e.sh

# The same day through a Citus coordinator (Citus built and installed first if missing): `smt
# import` of bench's main day (SMT_BENCH_ESIIDS meters, default 20,000; the same data cache) into a
# single node and into a coordinator with two workers, all on this machine, both checked exactly;
# EXPLAIN of one ESIID's and of every meter's query on the coordinator; rewrites the citus-bench
# section of BENCHMARKS.md and the "citus" key of benchmarks.json. See scripts/bench-citus.sh.
bench-citus: install
	bash scripts/citus.sh install
	SMT_BENCH_COMMAND="make bench-citus$(if $(SMT_BENCH_ESIIDS), SMT_BENCH_ESIIDS=$(SMT_BENCH_ESIIDS))" \
	  bash scripts/bench-citus.sh

# Parser throughput alone (criterion, core/benches/lse_parse.rs).
bench-parser:
	bash scripts/bench.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	bash scripts/pg.sh stop .demo/pgdata
	rm -rf .demo
