"""Token counts for a run plan: the model's tokenizer when it is on this machine, the released lengths for answers.

Texts that exist before the run (system prompts, user turns, benchmark items, judge templates, validation samples)
are counted with the model's own tokenizer when it is available locally (the bundled model's folder, a local model
folder, or a hub id in the Hugging Face cache); otherwise as ``words x 1.3``. The ``scripted`` backend counts words.

Answers do not exist yet. Their lengths come from the study's released ``round_lengths.csv``: the prefix before
round ``r`` grows by round ``r``'s user turn and answer, so an answer is ``prefix(r) - prefix(r-1) - user turn``,
taken from the same model when the study ran it (matched by name) and otherwise the median over the study's models;
per persona when the study had it, else the median over its personas. Chat-template tokens (a few per message) are
not counted.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from persona_lib.backends import BUNDLED_PREFIX, bundled_model_dir, get_backend
from persona_lib.config import ModelConfig
from persona_lib.personas import BASELINE
from persona_lib.released import load_round_lengths

TOKENS_PER_WORD = 1.3
"""Tokens per whitespace-separated word when no tokenizer is available (a common rule of thumb for English)."""


class TokenCounter:
    """Counts tokens of texts, remembering each text's count.

    Args:
        tokenizer: A Hugging Face tokenizer, or ``None`` to count ``words x tokens_per_word``.
        tokens_per_word: Multiplier of the word count (1.0 for the scripted backend, which counts words).
        label: How counts are made (for the plan's notes).
    """

    def __init__(self, tokenizer: object | None, tokens_per_word: float = TOKENS_PER_WORD, label: str = "") -> None:
        self.tokenizer = tokenizer
        self.tokens_per_word = tokens_per_word
        self.label = label
        self._counts: dict[str, int] = {}

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Token counts of ``texts`` (new texts are tokenized in one batch)."""
        new = [text for text in dict.fromkeys(texts) if text not in self._counts]
        if new:
            if self.tokenizer is not None:
                ids = self.tokenizer(new, add_special_tokens=False)["input_ids"]
                self._counts.update(zip(new, (len(row) for row in ids)))
            else:
                self._counts.update((text, round(len(text.split()) * self.tokens_per_word)) for text in new)
        return [self._counts[text] for text in texts]

    def count(self, text: str) -> int:
        """Token count of one text."""
        return self.count_many([text])[0]


def _tokenizer_source(model: ModelConfig) -> str | None:
    """A local folder or cached hub id the model's tokenizer can be loaded from, without any download."""
    if get_backend(model.backend).model_source != "local":
        return None
    if model.model.startswith(BUNDLED_PREFIX):
        folder = bundled_model_dir()
        return str(folder) if (folder / "tokenizer_config.json").is_file() else None
    folder = Path(model.model).expanduser()
    if folder.is_dir():
        return str(folder) if (folder / "tokenizer_config.json").is_file() else None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model.model, "tokenizer_config.json")
    except (ImportError, ValueError):
        return None
    return model.model if isinstance(cached, str) else None


def token_counter(model: ModelConfig, use_tokenizer: bool = True) -> TokenCounter:
    """The counter for the texts ``model`` will read: its tokenizer when available locally, else an estimate.

    Args:
        model: The model configuration.
        use_tokenizer: Try to load the tokenizer (``False``: always estimate; faster, no transformers import).
    """
    per_word = get_backend(model.backend).tokens_per_word
    if per_word is not None:
        return TokenCounter(None, per_word, f"words x {per_word:g} (the {model.backend} backend's own count)")
    source = _tokenizer_source(model) if use_tokenizer else None
    if source is not None and importlib.util.find_spec("transformers") is not None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        return TokenCounter(tokenizer, label=f"the model's tokenizer ({source})")
    return TokenCounter(
        None, TOKENS_PER_WORD, f"words x {TOKENS_PER_WORD} (the model's tokenizer is not on this machine)"
    )


@dataclass(frozen=True)
class ReleasedLengths:
    """Per-round dialogue growth (user turn + answer, in tokens) from the study's released round lengths.

    Attributes:
        growth: ``(condition, kind) -> [tokens added by round 1, 2, ...]`` for the study's conditions.
        median_growth: ``kind -> per-round median over the study's personas`` (for conditions it did not run).
        source: Which model's lengths are used.
    """

    growth: dict[tuple[str, str], list[int]]
    median_growth: dict[str, list[int]]
    source: str

    def for_condition(self, condition: str, kind: str) -> list[int]:
        """The per-round growth of one dialogue (the persona's own, or the personas' median)."""
        return self.growth.get((condition, kind)) or self.median_growth[kind]


def released_lengths(model: ModelConfig) -> ReleasedLengths:
    """The released per-round dialogue growth for ``model`` (matched by name), or the study models' median.

    Args:
        model: The model under test; matched against the released model names by its display name or the last
            part of its model id (e.g. ``Qwen/Qwen3-4B-Instruct-2507`` → ``Qwen3-4B-Instruct-2507``).
    """
    table = load_round_lengths()
    names = {model.name_in_dialogue, model.model.rstrip("/").split("/")[-1]}
    chosen = table[table["model"].isin(names)]
    if chosen.empty:
        chosen = table.groupby(["condition", "kind", "round"], as_index=False)["prefix_tokens"].median()
        source = f"median of the study's {table['model'].nunique()} models ({model.model} is not among them)"
    else:
        source = f"the study's lengths for {chosen['model'].iloc[0]}"
    chosen = chosen.sort_values(["condition", "kind", "round"])
    chosen = chosen.assign(growth=chosen.groupby(["condition", "kind"])["prefix_tokens"].diff())
    chosen = chosen.dropna(subset=["growth"])
    growth = {
        (str(condition), str(kind)): [int(value) for value in rows["growth"]]
        for (condition, kind), rows in chosen.groupby(["condition", "kind"])
    }
    personas = chosen[chosen["condition"] != BASELINE]
    median = personas.groupby(["kind", "round"])["growth"].median().reset_index()
    median_growth = {str(kind): [int(value) for value in rows["growth"]] for kind, rows in median.groupby("kind")}
    return ReleasedLengths(growth, median_growth, source)


def answer_lengths(growth: Sequence[int], user_tokens: Sequence[int], max_new_tokens: int) -> list[int]:
    """Estimated answer tokens per round: the round's growth minus its user turn, at least 1, at most the cap."""
    return [min(max(int(g) - int(u), 1), max_new_tokens) for g, u in zip(growth, user_tokens)]
