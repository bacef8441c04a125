# Two entry points: `make demo` and `make test`. Both build .venv from scratch when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo study test test-fast lint setup clean job-servers

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	# CPU wheel on these machines; GPU users keep their own torch.
	$(BIN)/pip install torch==2.13.0 || $(BIN)/pip install torch
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/webtext demo --out demo_out

# The report on real text (../shared/data): ~10-15 min on an idle 2-core CPU; resumable (rerun to continue).
study: $(STAMP)
	$(BIN)/webtext study --out study_out

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m 'slow or not slow' --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# Beam's Flink and Spark job servers (Maven, Java 17), cached in ~/.cache/webtext/job-servers;
# prints each jar's path (for --flink_job_server_jar / --spark_job_server_jar).
job-servers:
	.ci/job_servers.sh flink spark

clean:
	rm -rf $(VENV) demo_out study_out
