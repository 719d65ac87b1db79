# Two commands from a fresh clone: `make serve` and `make test`.
# Every target installs and generates whatever it is missing.

NODE_BIN   := node_modules/.bin
INSTALLED  := node_modules/.coordinator-installed
GENERATED  := src/generated/api.ts
MOCK_HOST  ?= 127.0.0.1
MOCK_PORT  ?= 4010
TEST_FILES := $(sort $(wildcard test/*.test.ts))

.PHONY: install generate serve mock typecheck test unit contract bench clean

install: $(INSTALLED)

# npm ci when the lock file is there (clean clones, CI); sqlite3 builds from source.
$(INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

generate: $(GENERATED)

$(GENERATED): openapi.yaml codegen/generate.ts $(INSTALLED)
	$(NODE_BIN)/tsx codegen/generate.ts

serve: $(GENERATED)
	$(NODE_BIN)/tsx src/server.ts

# Prism serves openapi.yaml's examples: a runner developer's sandbox with no database.
mock: $(INSTALLED)
	$(NODE_BIN)/prism mock -h $(MOCK_HOST) -p $(MOCK_PORT) openapi.yaml

typecheck: $(GENERATED)
	$(NODE_BIN)/tsc -p .

unit: $(GENERATED)
	node --import tsx --test --test-concurrency=1 $(TEST_FILES)

contract: $(GENERATED)
	bash test/contract/run.sh

# The contract run goes first so that the test runner's summary closes the output.
test: typecheck contract unit

bench: $(GENERATED)
	node --import tsx bench/run.ts

clean:
	rm -rf $(GENERATED) .tmp
