# Latchkey's developer commands. `make help` lists them.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
# Node runs the published @nhost/nhost-js and @zesty-io/sdk clients and our generated TypeScript
# client against the server, and generates that client's types. Where Node is installed those
# tests are required; LATCHKEY_TEST_REQUIRE_NODE=1 (as .ci/run sets) requires them everywhere, so
# a missing Node fails instead of skipping.
HAVE_NODE := $(shell command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && echo 1)
REQUIRE_NODE := $(if $(filter 1,$(LATCHKEY_TEST_REQUIRE_NODE)),1,$(HAVE_NODE))
# The npm packages, each pinned by its package-lock.json and installed with npm ci.
NODE_PACKAGES := e2e/nhostjs e2e/zestysdk clients/typescript
# What make generate writes (from the contract and the flags); make check-generate fails when it differs.
GENERATED := gen/ clients/typescript/src/latchkey.d.ts docs/configuration.md
# The race detector (see test) also turns on checkptr, a check of every unsafe.Pointer
# conversion. The pure-Go SQLite driver is C translated to Go, where nearly every memory access
# is one: checkptr was a fifth of the SQLite suite's CPU. It stays on for our code.
RACE := -race -gcflags=modernc.org/...=-d=checkptr=0 -gcflags=github.com/glebarez/...=-d=checkptr=0

.DEFAULT_GOAL := help
.PHONY: help run test test-sqlite test-sqlite-a test-sqlite-b test-sqlite-race test-postgres test-postgres-a test-postgres-b test-postgres-c test-binary e2e-deps need-node generate generate-ts check-generate lint build bench ci

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## start Latchkey on 127.0.0.1:4000 with SQLite in ./data (no configuration needed)
	$(GO) run ./cmd/latchkey serve

# The suite runs as six processes side by side, each printing its output when it ends: each
# database's half split by test name into shards (SQLite in two, PostgreSQL, the slower, in
# three), so that the server package, most of the suite's time, runs as several processes, plus
# the store packages on SQLite under the race detector. The suite waits on its servers, databases
# and browsers more than it computes: run as one process per database it left our 2-core
# machines' CPUs idle a quarter of the time and took 15 minutes.
#
# The race detector runs on PostgreSQL, where the concurrent code is (the session cache's
# listener, the refresh batcher, instances side by side), and on SQLite for the store packages,
# which hold the code only SQLite runs. It costs the SQLite driver most (C translated to Go, every
# memory access instrumented), which is why the rest of the SQLite half runs without it.
#
# Each shard's server tests save which operations they exercised into COVDIR; covercheck then
# requires every operation of the contract to have answered successfully in one of the shards.
tests_named = '^(Test|Fuzz|Example)[$(1)]'
SHARD_sqlite_a := -run $(call tests_named,A-Oa-o)
SHARD_sqlite_b := -skip $(call tests_named,A-Oa-o)
SHARD_postgres_a := -run $(call tests_named,A-Fa-f)
SHARD_postgres_b := -run $(call tests_named,G-Qg-q)
SHARD_postgres_c := -skip $(call tests_named,A-Qa-q)
SQLITE_SHARDS := test-sqlite-a test-sqlite-b test-sqlite-race
POSTGRES_SHARDS := test-postgres-a test-postgres-b test-postgres-c
COVDIR := $(CURDIR)/.test-coverage
# The tests that run servers as processes (test/faults, test/cluster) take this binary, built once
# before the shards start, instead of each shard's test process building its own at the same time
# (on a new machine, from a cold build cache, that took over five minutes on two cores).
TEST_BINARY := $(CURDIR)/bin/latchkey-test
covercheck = if ls $(COVDIR)/$(1)-*.json >/dev/null 2>&1; then $(GO) run ./server/servertest/covercheck $(COVDIR)/$(1)-*.json; fi

test: e2e-deps ## run the whole suite on SQLite and on PostgreSQL, side by side
	@rm -rf $(COVDIR)
	@$(MAKE) --no-print-directory -j6 --output-sync=target $(SQLITE_SHARDS) $(POSTGRES_SHARDS)
	@$(call covercheck,sqlite)
	@$(call covercheck,postgres)

test-sqlite: e2e-deps ## run the whole suite on SQLite
	@rm -rf $(COVDIR)/sqlite-*
	@$(MAKE) --no-print-directory -j3 --output-sync=target $(SQLITE_SHARDS)
	@$(call covercheck,sqlite)

test-binary:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -o $(TEST_BINARY) ./cmd/latchkey

test-sqlite-a test-sqlite-b: test-sqlite-%: test-binary
	@mkdir -p $(COVDIR)
	LATCHKEY_TEST_BINARY=$(TEST_BINARY) LATCHKEY_TEST_DB=sqlite LATCHKEY_TEST_REQUIRE_NODE=$(REQUIRE_NODE) LATCHKEY_TEST_COVERAGE_OUT=$(COVDIR)/sqlite-$*.json \
		$(GO) test -count=1 -timeout 30m $(SHARD_sqlite_$*) $$($(GO) list ./... | grep -v /store)

test-sqlite-race:
	LATCHKEY_TEST_DB=sqlite $(GO) test $(RACE) -count=1 -timeout 30m ./store/...

# With no PostgreSQL answering, this prints SKIPPED lines and succeeds, unless
# LATCHKEY_TEST_REQUIRE_POSTGRES=1 (as .ci/run sets), which makes it fail.
test-postgres: e2e-deps ## run the whole suite on PostgreSQL (at POSTGRES_URL)
	@rm -rf $(COVDIR)/postgres-*
	@$(MAKE) --no-print-directory -j3 --output-sync=target $(POSTGRES_SHARDS)
	@$(call covercheck,postgres)

test-postgres-a test-postgres-b test-postgres-c: test-postgres-%: test-binary
	@mkdir -p $(COVDIR)
	@hostport=$$(echo '$(POSTGRES_URL)' | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]*).*#\2#'); \
	host=$${hostport%:*}; port=$${hostport##*:}; [ "$$port" = "$$hostport" ] && port=5432; \
	if ! (exec 3<>/dev/tcp/$$host/$$port) 2>/dev/null; then \
		if [ "$$LATCHKEY_TEST_REQUIRE_POSTGRES" = 1 ]; then echo "FAIL: PostgreSQL required but nothing answers on $$host:$$port"; exit 1; fi; \
		echo "SKIPPED: PostgreSQL tests, shard $* (nothing answers on $$host:$$port; set POSTGRES_URL)"; exit 0; \
	fi; \
	set -x; LATCHKEY_TEST_BINARY=$(TEST_BINARY) LATCHKEY_TEST_DB=postgres LATCHKEY_TEST_POSTGRES_URL='$(POSTGRES_URL)' LATCHKEY_TEST_REQUIRE_NODE=$(REQUIRE_NODE) \
		LATCHKEY_TEST_COVERAGE_OUT=$(COVDIR)/postgres-$*.json $(GO) test $(RACE) -count=1 -timeout 30m $(SHARD_postgres_$*) ./...

# npm ci in each package whose lock file is newer than what is installed there.
npm_ci = if [ ! -f $(1)/node_modules/.package-lock.json ] || [ $(1)/package-lock.json -nt $(1)/node_modules/.package-lock.json ]; then \
	npm ci --prefix $(1) --no-audit --no-fund --loglevel=error || exit 1; fi

e2e-deps: need-node ## install the pinned npm packages: real-client tests and the TypeScript client
ifeq ($(HAVE_NODE),1)
	@$(foreach d,$(NODE_PACKAGES),$(call npm_ci,$(d));)
endif

# Without Node, the Node steps are skipped with a notice, unless LATCHKEY_TEST_REQUIRE_NODE=1. A Node
# older than 20 fails here, with the reason, rather than midway through the tests: 20 is what these
# steps run and pass on (the published SDKs declare 22 and run on 20); .ci/run fetches Node 20
# where the system's is older (Debian 12's nodejs is 18).
need-node:
ifneq ($(HAVE_NODE),1)
ifeq ($(REQUIRE_NODE),1)
	@echo "FAIL: Node.js and npm are required (LATCHKEY_TEST_REQUIRE_NODE=1) but not installed"; exit 1
else
	@echo "Node.js/npm not found: the Node steps are skipped (real-client tests, the TypeScript client's types and tests)"
endif
else
	@v=$$(node --version); major=$${v#v}; major=$${major%%.*}; if [ "$$major" -lt 20 ]; then \
		echo "FAIL: Node.js $$v is older than 20, which the Node steps need (real-client tests, the TypeScript client): install Node 20 or later, or run .ci/run, which fetches one"; exit 1; fi
endif

generate: generate-ts ## regenerate gen/ and the TypeScript client's types from the contract, docs/configuration.md from the flags
	$(GO) tool oapi-codegen -config oapi-codegen.yaml openapi/openapi.yaml
	@# Last: it builds the server, which fails while handlers lag behind a contract change.
	$(GO) run ./cmd/latchkey config-reference --out docs/configuration.md

generate-ts: need-node ## regenerate clients/typescript/src/latchkey.d.ts (needs Node; skipped without it)
ifeq ($(HAVE_NODE),1)
	@$(call npm_ci,clients/typescript)
	cd clients/typescript && npx --no-install openapi-typescript ../../openapi/openapi.yaml --output src/latchkey.d.ts
endif

check-generate: generate ## fail when gen/, the TypeScript client's types or docs/configuration.md are stale
	@git diff --exit-code --stat -- $(GENERATED) || { echo "generated code is stale: run make generate and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- $(GENERATED)); \
	if [ -n "$$untracked" ]; then echo "untracked generated files: $$untracked"; exit 1; fi

lint: ## gofmt, go vet and staticcheck (generated code excluded)
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck $$($(GO) list ./... | grep -v '/gen$$')

build: ## build bin/latchkey (static, no cgo)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/latchkey ./cmd/latchkey

bench: build ## load-test a built server on SQLite and PostgreSQL and print the figures
	$(GO) run ./bench -server bin/latchkey

ci: check-generate lint test ## what CI runs
