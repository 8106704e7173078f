# axd: the two commands are `make run` and `make test`; everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ROOT   ?= $(CURDIR)
STAMP  := $(VENV)/.installed
# Acceptance areas that pass today; each issue adds its areas here so they never regress.
ACCEPTANCE_AREAS ?= conformance or robustness or cli or indexing or live or ops or flags or telemetry or safety
ACCEPTANCE_DIR   ?= ../shared/acceptance
# pytest-xdist processes for `make unit`: two take a third off the suite's wall
# time on 2 cores (a test spends much of its time waiting on the daemon it
# started); 0 runs the tests in pytest's own process, one after another.
TEST_WORKERS     ?= 2

.PHONY: run test install lint typecheck unit acceptance bench clean

run: $(STAMP)  ## install into .venv, start the daemon in the foreground, index ROOT
	$(BIN)/axd daemon --add "$(ROOT)"

test: $(STAMP) lint unit acceptance  ## the whole suite: lint, types, unit/integration, acceptance

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("axd needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# setuptools' editable install warns that a folder in the working directory
	@# named like the package could take precedence during imports; this
	@# repository has none (axd's code is protocol/ daemon/ client/), so that
	@# one warning, matched by its message, is not shown.
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@$(MAKE) --no-print-directory typecheck

# mypy cannot follow setuptools' package-dir mapping, so it checks a symlink tree.
typecheck: $(STAMP)
	@mkdir -p build/typecheck/axd
	@for pkg in protocol daemon client; do ln -sfn ../../../$$pkg build/typecheck/axd/$$pkg; done
	$(BIN)/mypy

# Branch coverage of protocol/, daemon/ and client/ across every process the
# tests start (see [tool.coverage.run] in pyproject.toml), then the summary.
# Data files of processes killed on purpose before coverage wrote them cannot
# be combined: tests/prune_coverage.py removes them first (and says how many).
unit: $(STAMP)
	@rm -rf build/coverage && mkdir -p build/coverage
	@status=0; $(BIN)/coverage run -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15 || status=$$?; \
	$(BIN)/python tests/prune_coverage.py build/coverage; \
	$(BIN)/coverage combine -q && $(BIN)/coverage report; \
	rm -f build/coverage/.coverage.*; \
	for pkg in protocol daemon client; do \
	  printf '%-10s' "$$pkg/"; $(BIN)/coverage report --include="$$pkg/*" | grep TOTAL; \
	done; exit $$status

# pytest-asyncio comes with pytest-lsp; the acceptance suite has no asyncio
# tests, and loaded, the plugin warns about its own unset default.
acceptance: $(STAMP)
	@if [ -d "$(ACCEPTANCE_DIR)" ]; then \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest "$(ACCEPTANCE_DIR)" -q -p no:cacheprovider -p no:asyncio -m "$(ACCEPTANCE_AREAS)"; \
	else echo "acceptance suite not found at $(ACCEPTANCE_DIR); skipped"; fi

bench: $(STAMP)
	$(BIN)/python perf/bench_rpc.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache
