# rnnflow: every target creates .venv and installs what it needs on first use.
# torch==2.13.0 goes in first (a CPU wheel on these machines); pyproject keeps torch>=2.4 open.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.rnnflow-installed
export MPLBACKEND := Agg

.PHONY: install demo test test-slow bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[torch,jax,data,dev]"
	@touch $(STAMP)

demo: install  ## the main job (small default); prints where its outputs went
	$(PY) -m rnnflow demo

test: install  ## the test suite (CI runs this)
	@$(PY) -c "import torch, jax; print('torch', torch.__version__, '| jax', jax.__version__)"
	$(PY) -m pytest -m "not slow" -q

test-slow: install  ## heavier checks, kept out of `make test`
	$(PY) -m pytest -m slow -q

bench: install  ## benchmark tables (not tests)
	$(PY) benchmarks/bench_models.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
