# make crawl  - set up .venv if needed, then crawl the bundled demo site (or SPIDER=name)
# make test   - set up .venv if needed, then run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SPIDER ?=
ARGS ?=

.PHONY: crawl test lint install clean bench

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(BIN)/.installed

crawl: install
ifeq ($(SPIDER),)
	$(BIN)/crawler demo $(ARGS)
else
	$(BIN)/crawler crawl $(SPIDER) $(ARGS)
endif

test: install
	$(BIN)/pytest

bench: install
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/crawler bench --compare $(ARGS)

lint: install
	$(BIN)/ruff check crawler spiders tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) output .cache .pytest_cache .mypy_cache .ruff_cache *.egg-info
