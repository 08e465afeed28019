"""persona_lib: the library behind the persistent-personas compendium.

Sub-packages, one per concept: ``personas``, ``dialogues``, ``benchmarks`` (data + specs), ``backends``
(model access), ``store`` (resumable response store), ``generation``, ``judging``, ``scoring``, ``stats``,
``plots``. Modules that tie them together: ``config`` (the typed run configuration), ``scores`` (a run's scores
table), ``released`` and ``reproduce`` (the authors' released results), ``report`` (provenance for the book),
``pipeline`` and ``book`` (papermill execution and the Jupyter Book), ``cli`` (``persona-eval``). The notebooks in
``notebooks/`` call into these; all data is read from the project's own ``data/`` folder.
"""

__version__ = "0.1.0"
