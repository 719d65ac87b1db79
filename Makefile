# Two commands from a fresh clone: `make serve` and `make test`.
# Every target installs and generates whatever it is missing.

NODE_BIN   := node_modules/.bin
INSTALLED  := node_modules/.coordinator-installed
GENERATED  := src/generated/api.ts
MOCK_HOST  ?= 127.0.0.1
MOCK_PORT  ?= 4010
# Issue 9: test/faults/ (crash safety) and test/fuzz/ (hostile input) run in make test too.
TEST_FILES := $(sort $(wildcard test/*.test.ts)) $(sort $(wildcard test/faults/*.test.ts test/fuzz/*.test.ts))

.PHONY: install generate serve mock typecheck test unit unit-sqlite unit-postgres contract bench clean test-tools soak audit

install: $(INSTALLED)

# npm ci when the lock file is there (clean clones, CI); sqlite3 builds from source.
$(INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

generate: $(GENERATED)

$(GENERATED): openapi.yaml codegen/generate.ts $(INSTALLED)
	$(NODE_BIN)/tsx codegen/generate.ts

# Logs for people (pino-pretty) unless LOG_FORMAT says otherwise.
serve: $(GENERATED)
	LOG_FORMAT=$${LOG_FORMAT:-pretty} $(NODE_BIN)/tsx src/server.ts

# Prism serves openapi.yaml's examples: a runner developer's sandbox with no database.
mock: $(INSTALLED)
	$(NODE_BIN)/prism mock -h $(MOCK_HOST) -p $(MOCK_PORT) openapi.yaml

typecheck: $(GENERATED)
	$(NODE_BIN)/tsc -p .
	$(NODE_BIN)/tsc -p src/web/client

# The spec reporter lists the failing tests again at the very end, where a CI log tail shows them.
UNIT_RUN := node --import tsx --test --test-concurrency=1 --test-reporter=spec

# The whole suite on each store: SQLite (the embedded default), then a real PostgreSQL. The
# store is picked by the environment (test/support/database.ts): TEST_DATABASE_URL set means
# PostgreSQL. test/postgres/run.sh starts a throwaway cluster for the run (installing Debian's
# postgresql if missing) unless TEST_DATABASE_URL already names a server.
unit: unit-sqlite unit-postgres

unit-sqlite: $(GENERATED) test-tools
	env -u TEST_DATABASE_URL $(UNIT_RUN) $(TEST_FILES)

unit-postgres: $(GENERATED) test-tools
	bash test/postgres/run.sh $(UNIT_RUN) $(TEST_FILES)

contract: $(GENERATED) test-tools
	bash test/contract/run.sh

# Programs the tests run that npm does not install: curl (test/buildsApiDoc.test.ts runs
# GitLab's documented curl calls with it; make contract waits for its servers with it).
# A bare machine (CI) gets it from Debian's packages.
test-tools:
	@command -v curl >/dev/null 2>&1 || { \
	  echo 'test-tools: installing curl with apt-get'; \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq curl; \
	}

# The contract run goes first so that the test runner's summary closes the output.
test: typecheck contract unit

# Issue 9: the crash and fuzz tests for longer: 200 SIGKILLs and 200,000 hostile requests
# (about an hour on 2 cores). FAULT_KILLS, FAULT_SEED, FUZZ_RUNS and FUZZ_SEED override.
soak: $(GENERATED)
	FAULT_KILLS=$${FAULT_KILLS:-200} FUZZ_RUNS=$${FUZZ_RUNS:-200000} node --import tsx --test --test-concurrency=1 --test-timeout=0 test/faults/*.test.ts test/fuzz/*.test.ts

# Known vulnerabilities of the runtime dependencies (npm's advisory database): high or critical fail.
audit: $(INSTALLED)
	npm audit --omit=dev --audit-level=high

# Every scenario in bench/ (BENCH=name,name picks some); those that compare stores run on SQLite
# and on a throwaway PostgreSQL cluster with durable commits (test/postgres/run.sh).
bench: $(GENERATED)
	POSTGRES_DURABLE=1 bash test/postgres/run.sh node --import tsx bench/run.ts

clean:
	rm -rf $(GENERATED) .tmp
