# Latchkey's developer commands. `make help` lists them.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
# Node runs the published @nhost/nhost-js client against the server when it is installed.
HAVE_NODE := $(shell command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && echo 1)
# The suite runs under the race detector, which also turns on checkptr, a check of every
# unsafe.Pointer conversion. The pure-Go SQLite driver is C translated to Go, where nearly every
# memory access is one: checkptr was a fifth of the SQLite suite's CPU. It stays on for our code.
RACE := -race -gcflags=modernc.org/...=-d=checkptr=0 -gcflags=github.com/glebarez/...=-d=checkptr=0

.DEFAULT_GOAL := help
.PHONY: help run test test-sqlite test-postgres e2e-deps generate check-generate lint build bench ci

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

run: ## start Latchkey on 127.0.0.1:4000 with SQLite in ./data (no configuration needed)
	$(GO) run ./cmd/latchkey serve

test: test-sqlite test-postgres ## run the whole suite on SQLite, then on PostgreSQL

test-sqlite: e2e-deps ## run the whole suite on SQLite
	LATCHKEY_TEST_DB=sqlite LATCHKEY_TEST_REQUIRE_NODE=$(HAVE_NODE) $(GO) test $(RACE) -count=1 -timeout 20m ./...

# With no PostgreSQL answering, this prints one SKIPPED line and succeeds, unless
# LATCHKEY_TEST_REQUIRE_POSTGRES=1 (as .ci/run sets), which makes it fail.
test-postgres: e2e-deps ## run the whole suite on PostgreSQL (at POSTGRES_URL)
	@hostport=$$(echo '$(POSTGRES_URL)' | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]*).*#\2#'); \
	host=$${hostport%:*}; port=$${hostport##*:}; [ "$$port" = "$$hostport" ] && port=5432; \
	if ! (exec 3<>/dev/tcp/$$host/$$port) 2>/dev/null; then \
		if [ "$$LATCHKEY_TEST_REQUIRE_POSTGRES" = 1 ]; then echo "FAIL: PostgreSQL required but nothing answers on $$host:$$port"; exit 1; fi; \
		echo "SKIPPED: PostgreSQL tests (nothing answers on $$host:$$port; set POSTGRES_URL)"; exit 0; \
	fi; \
	set -x; LATCHKEY_TEST_DB=postgres LATCHKEY_TEST_POSTGRES_URL='$(POSTGRES_URL)' LATCHKEY_TEST_REQUIRE_NODE=$(HAVE_NODE) \
		$(GO) test $(RACE) -count=1 -timeout 20m ./...

e2e-deps: ## install the Node clients used by the real-client tests (when Node is present)
ifeq ($(HAVE_NODE),1)
	@for d in e2e/nhostjs e2e/zestysdk; do \
		if [ ! -f $$d/node_modules/.package-lock.json ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
			npm ci --prefix $$d --no-audit --no-fund --loglevel=error || exit 1; fi; \
	done
else
	@echo "Node.js not found: the real-client tests (@nhost/nhost-js, @zesty-io/sdk) will be skipped"
endif

generate: ## regenerate gen/ from openapi/openapi.yaml
	$(GO) tool oapi-codegen -config oapi-codegen.yaml openapi/openapi.yaml

check-generate: generate ## fail when gen/ is not what the contract generates
	@git diff --exit-code --stat -- gen/ || { echo "gen/ is stale: run make generate and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- gen/); \
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
