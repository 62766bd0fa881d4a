# The two commands the README opens with are `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup example demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[local,dev]'
	touch $@

example: setup
	$(PY) examples/sentiment/make_model.py

demo: example
	$(BIN)/vxdeploy deploy --profile local --yes
	$(BIN)/vxdeploy predict --profile local --instances examples/sentiment/instances.json

lint: setup
	$(BIN)/ruff check .

test: example lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: example
	$(PY) bench/cli_startup.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
