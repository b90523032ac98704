# The README's two commands are `make demo` and `make test`.
# Python test tools live in a venv (default .venv) made from tests/requirements.txt.

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
CARGO ?= cargo

.PHONY: demo test venv lint fmt

demo:
	$(CARGO) run -p tributary -- run pipelines/demo.toml

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r tests/requirements.txt
	touch $@

test: venv
	TRIBUTARY_PYTHON=$(VENV)/bin/python $(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
