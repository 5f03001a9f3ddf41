# Two entry points (see README): `make book` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PROFILE ?= quick
JOBS_ENV := PYTHONHASHSEED=0 MPLBACKEND=Agg

.PHONY: book test unit notebooks report full clean-book venv

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'qlib-dev.pth').write_text('$(CURDIR)\n')"
	rm -f $(VENV)/.installed-*
	touch $@

# Unit tests, then every notebook at the smoke profile (papermill).
test: $(STAMP)
	$(JOBS_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider tests

unit: $(STAMP)
	$(JOBS_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider -m "not notebooks" tests

# Execute every notebook at $(PROFILE) (quick: the embedded dataset) and build the HTML book offline.
book: $(STAMP)
	$(JOBS_ENV) $(BIN)/python -m qlib notebooks --profile $(PROFILE) --out book/generated
	$(BIN)/jupyter-book build . --config _config.yml --toc book/_toc.yml --warningiserror --nitpick --keep-going
	@echo "book: $(CURDIR)/_build/html/index.html"

report: $(STAMP)
	$(BIN)/python -m qlib report

# Full-profile experiments (hours on a CPU; resumable; records land in results/full).
full: $(STAMP)
	$(JOBS_ENV) $(BIN)/python -m qlib notebooks --profile full --out runs/full-notebooks

clean-book:
	rm -rf _build book/generated
