"""persona_lib: the library behind the persistent-personas compendium.

Sub-packages, one per concept: ``personas``, ``dialogues``, ``benchmarks`` (data + specs), ``backends``
(model access), ``store`` (resumable response store), ``generation``, ``judging``, ``scoring``, ``stats``,
``plots``. The notebooks in ``notebooks/`` call into these; nothing here reads ``../shared``.
"""

__version__ = "0.1.0"
