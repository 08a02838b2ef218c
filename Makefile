# The two set-up commands on a fresh machine are `make run` and `make test`; each creates .venv itself.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-unit comfyui comfyui-install lint typecheck bench eval clean services-start services-stop

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/comfy-gateway serve

comfyui-install: $(STAMP)
	$(BIN)/comfy-gateway comfyui install

comfyui: comfyui-install
	$(BIN)/comfy-gateway comfyui start

# PostgreSQL and Redis (scripts/services.sh) run for the whole test session and stop afterwards, also when a
# test fails or make is interrupted; their URLs reach pytest as TEST_DATABASE_URL / TEST_REDIS_URL (not
# DATABASE_URL: that would move every other test's gateway onto Postgres). `make test SERVICES=0` skips them
# (those tests are then skipped, with the reason).
SERVICES ?= 1

test: comfyui-install
ifeq ($(SERVICES),1)
	@set -e; trap 'scripts/services.sh stop' EXIT INT TERM; \
	urls="$$(scripts/services.sh start)"; \
	export $$(printf '%s\n' "$$urls" | grep -E '^(DATABASE_URL|REDIS_URL)=' | sed 's/^/TEST_/'); \
	$(BIN)/python -m pytest -q -ra
else
	$(BIN)/python -m pytest -q -ra
endif

services-start:
	scripts/services.sh start

services-stop:
	scripts/services.sh stop

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q -m "not integration"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The full shipped prompt set with the planner strategy (offline); add COMFYUI=URL for live scores.
eval: $(STAMP)
	$(BIN)/comfy-gateway eval run evals/sets/core.jsonl --strategy planner --out eval-out/core --fresh \
		$(if $(COMFYUI),--comfyui $(COMFYUI))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
