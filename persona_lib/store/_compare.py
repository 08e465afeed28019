"""Two stores of the same configuration, request by request: did two backends send and answer the same?

A request is identified across stores by its tags (stage, condition, kind, replicate, round or checkpoint, dataset,
item, judge mode...), not by its key, which includes the backend's name. For each request both stores hold, the
comparison says whether the message lists are the same, whether the answers are, where two answers first differ,
and for label distributions the largest gap between the two distributions. A greedy answer that differs changes
every later request of its dialogue, so the requests are compared in full and the differing ones listed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from persona_lib.contract import decode_label_distribution
from persona_lib.store._store import ResponseStore

VOLATILE_TAGS = ("prefix_tokens",)
"""Tags that describe a request's size rather than name it (left out of its identity)."""

_BASE_COLUMNS = ("key", "created", "backend", "model", "sampling", "text", "prompt_tokens", "completion_tokens")
_BASE_COLUMNS += ("finish_reason", "error", "run_info_id", "messages")


@dataclass(frozen=True)
class StoreComparison:
    """Requests two stores both hold, side by side.

    Attributes:
        pairs: One row per request in both: ``identity`` (its tags as JSON), ``stage``, ``kind_of_request``
            (``generate`` or ``distribution``), ``same_messages``, ``same_text``, ``first_difference`` (for two
            different answers: the position and the two differing tokens) and ``label_gap`` (the largest absolute
            difference of two label distributions; NaN for generations).
        only_first: Identities of requests only the first store holds.
        only_second: Identities of requests only the second store holds.
    """

    pairs: pd.DataFrame
    only_first: tuple[str, ...]
    only_second: tuple[str, ...]

    def generations(self) -> pd.DataFrame:
        """The generated answers (not label distributions)."""
        return self.pairs[self.pairs["kind_of_request"] == "generate"]

    def distributions(self) -> pd.DataFrame:
        """The label distributions."""
        return self.pairs[self.pairs["kind_of_request"] == "distribution"]

    def summary(self) -> dict[str, float | int]:
        """Counts and shares: requests in both, same messages, same answers among generations sent the same
        messages, and the largest label gap among distributions read from the same messages."""
        generations = self.generations()
        sent_alike = generations[generations["same_messages"]]
        distributions = self.distributions()
        read_alike = distributions[distributions["same_messages"]]
        return {
            "requests_in_both": len(self.pairs),
            "only_first": len(self.only_first),
            "only_second": len(self.only_second),
            "same_messages": float(self.pairs["same_messages"].mean()) if len(self.pairs) else float("nan"),
            "generations_sent_alike": len(sent_alike),
            "same_answer": float(sent_alike["same_text"].mean()) if len(sent_alike) else float("nan"),
            "distributions_read_alike": len(read_alike),
            "max_label_gap": float(read_alike["label_gap"].max()) if len(read_alike) else float("nan"),
        }


def _identified(store: ResponseStore, ignore: Iterable[str]) -> pd.DataFrame:
    table = store.to_dataframe(include_messages=True)
    tag_columns = [column for column in table.columns if column not in _BASE_COLUMNS and column not in ignore]

    def identity(row: pd.Series) -> str:
        return json.dumps({name: row[name] for name in tag_columns if pd.notna(row[name])}, sort_keys=True)

    table["identity"] = table.apply(identity, axis=1)
    return table.drop_duplicates("identity").set_index("identity")


def first_difference(first: str, second: str, tokenize: Callable[[str], list[str]] = str.split) -> str:
    """Where two answers part: ``"token 3: 'Paris' vs 'Lyon'"`` (``""`` when they are equal).

    Args:
        first: One answer.
        second: The other.
        tokenize: How to cut an answer into tokens (default: at whitespace; pass a model tokenizer's
            ``tokenize`` for model tokens).
    """
    if first == second:
        return ""
    left, right = tokenize(first), tokenize(second)
    for index, (a, b) in enumerate(zip(left, right)):
        if a != b:
            return f"token {index}: {a!r} vs {b!r}"
    index = min(len(left), len(right))
    longer, which = (left, "first") if len(left) > len(right) else (right, "second")
    return f"token {index}: the {which} answer goes on with {longer[index]!r}" if index < len(longer) else "whitespace"


def _label_gap(first: str, second: str) -> float:
    try:
        (left,), (right,) = decode_label_distribution(first)[:1], decode_label_distribution(second)[:1]
    except ValueError:
        return float("nan")
    return max(abs(left[label] - right.get(label, 0.0)) for label in left)


def compare_stores(
    first: ResponseStore,
    second: ResponseStore,
    tokenize: Callable[[str], list[str]] = str.split,
    ignore_tags: Iterable[str] = VOLATILE_TAGS,
) -> StoreComparison:
    """Compare the requests two stores both hold (e.g. one configuration run on vLLM and on transformers).

    Args:
        first: One run's store.
        second: The other's.
        tokenize: How answers are cut into tokens to locate their first difference.
        ignore_tags: Tags left out of a request's identity.
    """
    ignore = tuple(ignore_tags)
    left, right = _identified(first, ignore), _identified(second, ignore)
    common = left.index.intersection(right.index)
    rows = []
    for identity in common:
        a, b = left.loc[identity], right.loc[identity]
        distribution = bool(a["sampling"].get("score_labels"))
        rows.append(
            {
                "identity": identity,
                "stage": a.get("stage"),
                "kind_of_request": "distribution" if distribution else "generate",
                "same_messages": a["messages"] == b["messages"],
                "same_text": a["text"] == b["text"],
                "first_difference": "" if distribution else first_difference(a["text"], b["text"], tokenize),
                "label_gap": _label_gap(a["text"], b["text"]) if distribution else float("nan"),
            }
        )
    columns = ["identity", "stage", "kind_of_request", "same_messages", "same_text", "first_difference", "label_gap"]
    return StoreComparison(
        pd.DataFrame(rows, columns=columns),
        tuple(sorted(left.index.difference(right.index))),
        tuple(sorted(right.index.difference(left.index))),
    )
