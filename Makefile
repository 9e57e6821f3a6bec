# smt — the two commands a user needs are `make demo` and `make test` (see README.md).
# Every target installs what it needs first (scripts/setup.sh skips what is already there).

SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all setup setup-core build test test-core demo bench fmt clean

all: build

setup:
	bash scripts/setup.sh all

setup-core:
	bash scripts/setup.sh core

build: setup-core
	$(CARGO) build --release -p smt

# Unit, property, fixture and CLI tests of the pure-Rust crates.
test-core: setup-core
	$(CARGO) test -p smt-core -p smt

test: test-core

demo: build
	bash scripts/demo.sh

bench: setup-core
	bash scripts/bench.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf .demo
