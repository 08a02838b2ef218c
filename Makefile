# The two set-up commands on a fresh machine are `make run` and `make test`; each creates .venv itself.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-unit comfyui comfyui-install lint typecheck bench eval clean

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

test: comfyui-install
	$(BIN)/python -m pytest -q -ra

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
