# The two commands the README opens with are `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup example demo test lint typecheck bench clean docker-up docker-down triton-server

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

lint: setup typecheck
	$(BIN)/ruff check .

# mypy --strict over vxdeploy/ (config in pyproject.toml); part of `make test` through lint.
typecheck: setup
	$(BIN)/mypy

# Docker (scripts/docker/, docs/build.md): a private engine, a registry on 127.0.0.1 and a
# local base image for the docker-marked tests. Never fails the build: where no engine can
# start, those tests skip with the reason. First run about 3 minutes, later about a second.
docker-up:
	scripts/docker/up.sh || echo "docker-up: no Docker engine; docker-marked tests will skip"

docker-down:
	scripts/docker/down.sh

# The tritonserver binary (CPU, Python backend) from the nvidia-pytriton wheel, unpacked
# beside the venv rather than installed: the wheel pins numpy<2. The Triton tests use it.
PYTRITON := $(VENV)/pytriton
$(PYTRITON)/.unpacked:
	rm -rf $(PYTRITON) && mkdir -p $(PYTRITON)
	$(PY) -m pip download -q --no-deps -d $(PYTRITON) 'nvidia-pytriton>=0.7,<0.8'
	$(PY) -c "import glob, zipfile; zipfile.ZipFile(glob.glob('$(PYTRITON)/*.whl')[0]).extractall('$(PYTRITON)')"
	chmod -R u+x $(PYTRITON)/pytriton/tritonserver
	rm -f $(PYTRITON)/*.whl && touch $@

triton-server: setup $(PYTRITON)/.unpacked

# with-engine.sh exports the engine's environment and stops what docker-up started.
test: example lint docker-up triton-server
	VXSERVE_TRITON_PYTRITON_DIR=$(abspath $(PYTRITON))/pytriton \
	  scripts/docker/with-engine.sh $(BIN)/pytest $(PYTEST_ARGS)

bench: example
	$(PY) bench/cli_startup.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
