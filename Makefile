# Build the book and run the tests from a fresh clone: see README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.wdc-installed
RECORDS := $(CURDIR)/_build/verdicts
JB := $(VENV)/bin/jupyter-book

.PHONY: all book pdf pdf-check test notebooks bench unit nbval nbval-perturbed lint strict-book browser clean
all: book

# (Re)install only when the package metadata or the pinned versions change.
$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c requirements/constraints.txt "torch==2.13.0" -e ".[book,test]"
	touch $(STAMP)

book: $(STAMP)
	$(PY) scripts/guard_cache.py
	WDC_RECORD_DIR=$(RECORDS) $(JB) build . --keep-going
	@echo "Book written to _build/html/index.html"

lint: $(STAMP)
	$(PY) -m ruff check .

unit: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/browser --ignore=tests/pdf

# After a build: the rendered pages in Debian's Chromium (skips, saying why, when there is none,
# unless WDC_REQUIRE_BROWSER=1). Screenshots go to _build/screenshots.
browser: $(STAMP)
	$(PY) -m pytest tests/browser -rs

NBVAL := -m pytest --nbval --nbval-current-env --nbval-cell-timeout=900 --nbval-sanitize-with tests/nbval_sanitize.cfg

nbval: $(STAMP)
	$(PY) $(NBVAL) book

# The same stored outputs under other numerics (OpenBLAS core type, torch's vector width, MKL's code
# path, one thread): what a chapter compares must hold on any CPU (see scripts/perturbed_numerics.py).
nbval-perturbed: $(STAMP)
	$(PY) scripts/perturbed_numerics.py -- $(PY) $(NBVAL) book

strict-book: $(STAMP)
	$(PY) scripts/guard_cache.py
	WDC_RECORD_DIR=$(RECORDS) $(JB) build . -W -n --keep-going
	$(PY) scripts/check_dashboard.py

# The whole book as one PDF (XeLaTeX from TeX Live; see scripts/build_pdf.py), linked from the cite page.
pdf: $(STAMP)
	$(PY) scripts/guard_cache.py
	WDC_RECORD_DIR=$(RECORDS) $(PY) scripts/build_pdf.py

# In make test: the PDF and its test skip, saying why, without TeX Live (unless WDC_REQUIRE_PDF=1).
pdf-check: $(STAMP)
	$(PY) scripts/guard_cache.py
	WDC_RECORD_DIR=$(RECORDS) $(PY) scripts/build_pdf.py --optional
	$(PY) -m pytest tests/pdf -rs

test: lint unit nbval nbval-perturbed strict-book pdf-check browser

notebooks: $(STAMP)
	$(PY) scripts/notebooks.py execute

bench: $(STAMP)
	$(PY) scripts/notebooks.py bench

clean:
	rm -rf _build
