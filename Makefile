# seqlib: `make report` runs the workbook on the built-in sample, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
# Extra index for the CPU build of torch on machines without an NVIDIA driver, e.g.
#   make test TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
TORCH_CPU_INDEX ?=
DATA ?=
RUN ?= runs/report
SMOKE ?= False
STAMP := $(VENV)/.installed

.PHONY: install test test-fast report runs lab bench bench-quick thumbnail clean

install: $(STAMP)

# Without an NVIDIA driver, torch first: the CPU build pinned to $(TORCH_VERSION) (installed in seconds from a
# local wheel where one lies, as on our CI), not the multi-GB CUDA build that PyPI serves by default. Where a
# driver answers, `pip install -e .` takes that CUDA build from the range in pyproject.toml.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "seqlib needs Python 3.11 or newer; pass one with e.g. PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	if ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; }; then \
	  $(BIN)/pip install "torch==$(TORCH_VERSION)" $(if $(TORCH_CPU_INDEX),--extra-index-url $(TORCH_CPU_INDEX)); \
	fi
	$(BIN)/pip install -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

# prints each notebook's progress and time, then the path of reports/index.html
report: $(STAMP)
	$(BIN)/python -m seqlib report --run $(RUN) --out reports $(if $(DATA),--data $(DATA)) $(if $(filter True,$(SMOKE)),--smoke)

# one line per run folder under runs/ (the workbook's, the report's, and any trained from the shell there)
runs: $(STAMP)
	$(BIN)/python -m seqlib runs runs

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

# README thumbnail: the key figures of the last `make report` run
thumbnail: $(STAMP)
	$(BIN)/python -c "from seqlib.report import write_key_figures; print(write_key_figures('$(RUN)', 'docs/key_figures.png'))"

clean:
	rm -rf $(VENV) runs reports .pytest_cache
