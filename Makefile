# rnnflow: every target creates .venv and installs what it needs on first use.
# torch==2.13.0 goes in first (a CPU wheel on these machines); pyproject keeps torch>=2.4 open.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.rnnflow-installed
export MPLBACKEND := Agg

.PHONY: install demo test test-slow bench docs docs-smoke clean

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
	$(PY) -m pytest -m "not slow" -q -n auto --durations=10   # one worker per core (pytest-xdist)

test-slow: install  ## the docs pages' claims at docs scale, both backends (kept out of `make test`)
	$(PY) -m pytest -m slow -q

bench: install  ## benchmark tables (not tests); flax is the peer of one table
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[bench]"
	$(PY) benchmarks/bench_models.py
	$(PY) benchmarks/bench_jacobian.py
	$(PY) benchmarks/bench_compile.py

docs: install  ## regenerate every figure at docs scale (both backends) and build the site (577 s measured on 2 shared cores)
	@# fresh: wipe results/docs, so every figure comes from this build; RESUME=1 keeps the
	@# studies an interrupted build finished and computes only the rest. The studies run first,
	@# one per core (docs/_ext/precompute.py); the pages then reuse their folders and draw
	@start=$$(date +%s); \
	if [ "$(RESUME)" != "1" ]; then rm -rf results/docs; fi; \
	$(PY) docs/_ext/precompute.py --scale docs --out results/docs; \
	RNNFLOW_SCALE=docs RNNFLOW_DOCS_REUSE=1 $(PY) -m sphinx -W --keep-going -b html docs docs/_build/html && \
	echo "docs built in $$(( $$(date +%s) - start )) s: open docs/_build/html/index.html"

docs-smoke: install  ## the same build at smoke scale (167 s measured on 2 shared cores; the test suite does this too)
	rm -rf results/docs-smoke; $(PY) docs/_ext/precompute.py --scale smoke --out results/docs-smoke; \
	RNNFLOW_SCALE=smoke RNNFLOW_DOCS_OUT=results/docs-smoke RNNFLOW_DOCS_REUSE=1 $(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/smoke

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
