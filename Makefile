# Two commands: `make run` (the portal with demo data) and `make test` (the whole suite);
# `make lint` (ruff, import-linter layers, mypy on the services) runs in CI before the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := run
export PORT ?= 5000

.PHONY: run test lint install install-dev db clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt

install-dev: $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt

db: install
	$(BIN)/flask db upgrade
	$(BIN)/flask sync-roles
	$(BIN)/flask seed-demo --if-empty

run: db
	@echo "Portail Familles : http://127.0.0.1:$(PORT)  (comptes de démonstration : mot de passe demo-portail)"
	$(BIN)/python run.py

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) instance .pytest_cache artifacts
