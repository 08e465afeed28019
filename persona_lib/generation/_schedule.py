"""Submission order for dialogue-conditioned questions, chosen for prefix caching.

Every question at checkpoint ``t`` of one dialogue shares the prefix ``system + first t rounds``. An engine with
automatic prefix caching (vLLM) computes that prefix once if the questions sharing it arrive together, and the
prefix of checkpoint ``t`` is a prefix of checkpoint ``t' > t``: visiting a dialogue's checkpoints in ascending
order lets each group extend the blocks already cached by the previous one. ``benchmarks/prefix_cache.py``
measures the effect.
"""

from __future__ import annotations

from collections.abc import Sequence

from persona_lib.store import Request

PREFIX_TAGS = ("condition", "kind", "checkpoint")


def schedule(requests: Sequence[Request]) -> list[list[Request]]:
    """Group requests by shared prefix and order the groups dialogue by dialogue, checkpoints ascending.

    A group is every request with the same ``(condition, kind, checkpoint)`` tags, in input order. Groups of
    one dialogue (condition × kind) are consecutive with ascending checkpoints; dialogues follow in the order
    they first appear in ``requests``.

    Args:
        requests: Requests tagged with ``condition``, ``kind`` and ``checkpoint``.

    Returns:
        The groups, in submission order.

    Raises:
        ValueError: naming the first request that lacks one of the tags.
    """
    groups: dict[tuple, list[Request]] = {}
    dialogue_order: dict[tuple, int] = {}
    for index, request in enumerate(requests):
        missing = [tag for tag in PREFIX_TAGS if tag not in request.tags]
        if missing:
            raise ValueError(
                f"request {index} (tags {request.tags}) lacks tag(s) {missing}; scheduling needs "
                f"{list(PREFIX_TAGS)} on every request"
            )
        condition, kind, checkpoint = (request.tags[tag] for tag in PREFIX_TAGS)
        dialogue_order.setdefault((condition, kind), len(dialogue_order))
        groups.setdefault((condition, kind, checkpoint), []).append(request)
    ordered = sorted(groups, key=lambda group: (dialogue_order[group[:2]], group[2]))
    return [groups[group] for group in ordered]
