# The two commands of the README are `make demo` and `make test`.
# Python test tools live in a venv at .venv (made from tests/requirements.txt).

PYTHON ?= python3
VENV := .venv
CARGO ?= cargo

.PHONY: demo test venv lint fmt

demo:
	$(CARGO) run --release -p tributary -- run pipelines/demo.toml

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r tests/requirements.txt
	touch $@

test: venv
	TRIBUTARY_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
