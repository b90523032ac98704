# The README's two commands are `make demo` and `make test`.
# Python test tools live in a venv (default .venv) made from tests/requirements.txt.

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
CARGO ?= cargo
# Airflow, Dagster, kubernetes-validate and hadolint for deploy/tests, in their own venv (they pin
# many packages the interop tools also use); inside $(VENV) so it is cached and ignored with it.
DEPLOY_VENV ?= $(VENV)/deploy
# The CLI `cargo nextest` builds (tests/bin/tributary-cli.rs: exactly tributary's main); deploy/tests
# runs it, as `tributary`, on the examples' pipeline files.
TRIBUTARY_BIN ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/debug/tributary-cli

.PHONY: demo install test venv deploy-venv test-deploy lint fmt

# The demo reads the embedded emulator and writes local Parquet: it builds without the cloud
# stores, the Delta sink and jemalloc (the default features), about half of a cold build
# (BENCHMARKS.md, "Cold build"). `make test` and `make install` build every feature.
DEMO_FEATURES ?= --no-default-features
demo:
	$(CARGO) run -p tributary $(DEMO_FEATURES) -- run pipelines/demo.toml

# `tributary` on the PATH: a release build into ~/.cargo/bin (rustup puts it on the PATH).
install:
	$(CARGO) install --path crates/tributary --locked

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r tests/requirements.txt
	touch $@

deploy-venv: $(DEPLOY_VENV)/.installed

$(DEPLOY_VENV)/.installed: deploy/requirements.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install --quiet --upgrade pip
	$(DEPLOY_VENV)/bin/pip install --quiet -r deploy/requirements.txt
	touch $@

test: venv deploy-venv
	TRIBUTARY_PYTHON=$(VENV)/bin/python $(CARGO) nextest run --workspace --no-fail-fast
	$(MAKE) --no-print-directory test-deploy
	$(CARGO) test --workspace --doc

# Every file in deploy/ against the real engine's validator or loader (pytest, ~1 min).
test-deploy: deploy-venv
	TRIBUTARY_BIN=$(TRIBUTARY_BIN) $(DEPLOY_VENV)/bin/python -m pytest deploy/tests -p no:cacheprovider -q

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
