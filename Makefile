# Two commands do everything on a fresh machine: `make book` and `make test`.
# Both create .venv and install the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PROFILE ?= cpu

.PHONY: book test check lint chapter verify notebooks lock clean

$(INSTALLED): requirements.txt requirements-run.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(INSTALLED)

book: $(INSTALLED)  ## execute changed chapters (PROFILE=cpu|gpu|ci) and build _build/html
	$(PY) -m scaling_debate build --profile $(PROFILE) $(if $(NO_TRAIN),--no-train)

test: $(INSTALLED)  ## lint, layering, stored runs retrained bit for bit, every test incl. chapters
	bash tests/setup_browser.sh
	$(PY) -m ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m scaling_debate verify --runs 3
	$(PY) -m pytest

check: $(INSTALLED)  ## the fast tests only (no chapter execution, no book build)
	$(PY) -m pytest -m "not slow" -n 2 -q

verify: $(INSTALLED)  ## make verify RUNS=10: retrain the cheapest stored runs, compare bit for bit
	$(PY) -m scaling_debate verify --runs $(or $(RUNS),3)

lint: $(INSTALLED)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

chapter: $(INSTALLED)  ## make chapter STEM=methods PROFILE=ci
	$(PY) -m scaling_debate execute $(STEM) --profile $(PROFILE)

notebooks: $(INSTALLED)  ## rewrite notebooks/ (runnable chapters) after editing a chapter
	$(PY) -m scaling_debate notebooks

lock: $(INSTALLED)  ## rewrite constraints.txt from .venv after changing requirements.txt
	{ sed -n '1,/^$$/p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^torch=='; } > constraints.tmp
	mv constraints.tmp constraints.txt

clean:
	rm -rf _build
