"""persona_lib: the library behind the persistent-personas compendium.

Sub-packages, one per concept: ``personas``, ``dialogues``, ``datasets`` (the registry: one module per benchmark
with its loader, scorer and metrics), ``backends`` (model access), ``store`` (resumable response store),
``generation``, ``judging`` (templates, parsing, judge calls), ``scoring`` (a run's scores and unit scores, judge
validation), ``stats``, ``plots``, ``authors_release`` (a clone of the authors' full release), ``study`` (many
models under one protocol: Ray or a job array, merged stores, the cross-model analysis). Modules that tie them
together: ``config`` (the typed run configuration), ``run`` (a run folder), ``released`` and ``reproduce`` (the
authors' released results), ``report`` (provenance for the book), ``checks`` and ``plan`` (what is checked, and
what a run will cost, before it starts), ``pipeline`` and ``book`` (papermill execution and the Jupyter Book),
``cli`` (``persona-eval``). The notebooks in
``notebooks/`` call into these; all data is read from the project's own ``data/`` folder.
"""

__version__ = "0.1.0"

import warnings as _warnings

# tqdm.auto (imported by transformers and huggingface_hub) warns in every notebook kernel without ipywidgets that it
# falls back to text progress bars. That is library noise, with the machine's paths in it; the notebooks a reader
# downloads must not carry it.
_warnings.filterwarnings("ignore", message="IProgress not found")
