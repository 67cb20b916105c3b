# The book's two commands:  make book  (build everything)  and  make test  (all tests).
# Both create the virtual environment .venv on first use.
PYTHON  ?= $(shell command -v python3.11 || command -v python3)
VENV    := .venv
BIN     := $(VENV)/bin
PROFILE ?= ci
NB      ?=
# NB and PROFILE reach shell commands: refuse anything but a chapter's name and a profile before any recipe runs
CHAPTER_NAMES := $(basename $(notdir $(wildcard notebooks/[0-9]*.py)))
ifneq ($(words $(NB)),$(words $(filter $(CHAPTER_NAMES),$(NB))))
$(error NB must be one chapter name of notebooks/ ($(CHAPTER_NAMES)))
endif
ifneq ($(words $(NB)),$(filter 0 1,$(words $(NB))))
$(error NB must be one chapter name of notebooks/)
endif
ifneq ($(PROFILE),$(filter ci paper,$(PROFILE)))
$(error PROFILE must be ci or paper)
endif
# the data directory of the natural tasks (reprolib.data): ../shared/data where it exists, unless set already
REPROLIB_DATA ?= $(wildcard $(abspath ../shared/data))
export REPROLIB_DATA
export PATH := $(abspath $(BIN)):$(PATH)
export JUPYTER_PATH := $(abspath $(VENV))/share/jupyter
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book chapter test regression site venv lock clean

# Every package, with its version and sha256, comes from requirements.lock (made from pyproject.toml by
# `make lock`); pip refuses a file whose hash differs. torch is the CPU build: from a local wheel when pip's
# configured find-links has one, else from PyTorch's CPU index.
LOCK := requirements.lock
TORCH_PIN = $(shell grep -o '^torch==[^ ]*' $(LOCK))
TORCH_SOURCE = $(shell $(PYTHON) -m pip install --dry-run --no-deps --no-index --quiet "$(TORCH_PIN)" >/dev/null 2>&1 \
                 || echo --extra-index-url https://download.pytorch.org/whl/cpu)

venv: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version.split()[0]} at {sys.executable}"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK) $(TORCH_SOURCE) 2> $(VENV)/pip.log \
	  || { cat $(VENV)/pip.log; exit 1; }
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e . 2>> $(VENV)/pip.log || { cat $(VENV)/pip.log; exit 1; }
	touch $@

## make lock: re-make requirements.lock from pyproject.toml (after a change of its pins), with pip-tools
lock:
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/pip install --quiet --disable-pip-version-check pip-tools==7.6.2
	$(VENV)-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links --extra book --extra test --extra cluster --output-file $(LOCK) pyproject.toml

## make book [FORCE=1]: execute at PROFILE (default ci) the chapters whose inputs changed (every one with FORCE=1)
## and build the HTML into _build/html
book: venv
	$(if $(filter-out 1,$(FORCE)),$(error FORCE must be 1 or unset))
	$(BIN)/python -m reprolib.pipeline execute --profile $(PROFILE) $(if $(FORCE),--force)
	$(BIN)/python -m reprolib.pipeline static
	$(BIN)/jupyter-book build . -W -n --keep-going

## make site: the static site in _build/site (the built HTML, claims.json, the browser tests' screenshots),
## for any static web server or the file system; after make book (and make test, for the screenshots)
site: venv
	$(BIN)/python -m reprolib.pipeline site

## make chapter NB=01_linear_proof PROFILE=paper: re-run one chapter into book/chapters/ (always, even unchanged)
chapter: venv
	@test -n "$(NB)" || { echo "usage: make chapter NB=01_linear_proof [PROFILE=paper]"; exit 2; }
	$(BIN)/python -m reprolib.pipeline execute --profile $(PROFILE) --only $(NB) --force

NBVAL   := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# Another kernel path for the second pass of the regression checks: torch's (ATen's) AVX2 kernels and OpenBLAS's
# Haswell kernels with one thread, i.e. what a one-core AVX2 machine runs (MKL's code branch is fixed in both
# passes, reprolib.profiles.KERNEL_ENV). The chapters' printed numbers must not depend on the CPU
# (book/design.md, "Numbers that do not depend on the CPU").
OTHER_KERNELS := ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1

# The test files are spread over one process per core (pytest-xdist); a file stays in one process, so a
# notebook's cells run in order in one kernel. Every test and chapter computes with one thread.
PARALLEL := -n auto --dist loadfile -rs

## make test: pytest for reprolib and nbval on the committed ci executions, then nbval again on another kernel path
test: venv
	$(BIN)/python -m pytest tests $(NBVAL) $(PARALLEL) --durations=15; \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; [ $$rc -eq 0 ] || exit $$rc
	@echo "== the regression checks again, on another kernel path: $(OTHER_KERNELS)"
	env $(OTHER_KERNELS) $(BIN)/python -m pytest tests/regression $(NBVAL) $(PARALLEL) -q

## make regression [NB=02_nonlinear_bound]: rewrite tests/regression/*.ipynb when a change of numbers is intended
regression: venv
	$(BIN)/python -m reprolib.pipeline regression $(if $(NB),--only $(NB))

clean:
	rm -rf _build book/chapters book/build_report.md book/claims.md book/glance.md
