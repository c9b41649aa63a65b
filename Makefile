# Two entry points for a fresh machine (see README):
#   make demo   train the reference on MNIST, write figures, grade the examples
#   make test   lint, release check and the full test suite
# Everything else is a step they share.

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
# nbgrader runs `alembic` from PATH to migrate its gradebook: keep the venv first.
export PATH := $(BIN):$(PATH)
# MNIST: use the copy beside the checkout when there is one (CI); otherwise the
# loader finds or downloads it into its cache, data/mnist/.
SHARED_MNIST := $(wildcard $(abspath ../shared/data/mnist))
ifneq ($(SHARED_MNIST),)
MNIST_DIR ?= $(SHARED_MNIST)
export MNIST_DIR
endif
RUN    ?= runs/reference
# The reference lives in solutions/; `python -m numpynet` run from solutions/
# finds it ahead of the student stubs in ./numpynet.
REFERENCE := cd solutions && PYTHONPATH=. $(BIN)/python -m numpynet

.PHONY: demo test install train grade bundle site lint release check-release bench bench-grading clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install train grade

train: install
	$(REFERENCE) train --out $(abspath $(RUN))

# The example submissions (reference, stubs, an independent implementation, the
# bug catalogue) are built from solutions/ each time, never committed.
grade: install
	$(BIN)/python -m autograder examples grading/submissions
	$(BIN)/python -m autograder grade-all grading/submissions --jobs 2 --out $(abspath grading/examples)

bundle: install
	$(BIN)/python -m autograder release --bundle dist/numpynet-course.zip

# The course website: every solved lesson executed with the reference (cached), as HTML
# in build/site/html/{solved,student} (see site/README.md).
site: install
	$(BIN)/python site/build.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

release: install
	$(BIN)/python -m autograder release

check-release: install
	$(BIN)/python -m autograder release --check

test: install lint check-release
	$(BIN)/python -m pytest -n 2

bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/speed.py

bench-grading: install
	$(BIN)/python benchmarks/grading.py --submissions 40

clean:
	rm -rf $(VENV) runs grading dist build .pytest_cache .ruff_cache
