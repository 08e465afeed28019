"""Label distributions: the probability a model gives each allowed answer at one fixed position.

A request with ``SamplingParams.score_labels`` generates nothing. The backend renders the conversation, appends
``SamplingParams.answer_prefix`` to the assistant's turn, and reads the model's next-token log-probabilities for
the first token of each label. The completion's text is the distribution as JSON (so the response store keeps it
like any answer): ``{"probs": {label: p, ...}, "mass": m}``, where ``probs`` is renormalised over the labels (sums
to 1) and ``mass`` is the probability the model put on the labels' tokens together before renormalising (how
sure it was that the answer is one of them at all).

Labels are matched by token: each label's first token after the prefix must be the token the tokenizer produces
for the prefix followed by that label, and different labels must start with different tokens. Tokenizers that
split a leading space from digits (``" 1"`` → ``" "``, ``"1"``) are handled by moving the labels' shared leading
whitespace into the prefix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from persona_lib.contract import Completion, encode_label_distribution


def label_token_ids(tokenizer, context: str, labels: Sequence[str]) -> tuple[list[int], list[int]]:
    """The context's token ids and the first token id of each label after it.

    Args:
        tokenizer: A ``transformers`` tokenizer.
        context: The rendered prompt, ending with the answer prefix.
        labels: The labels, as they would follow ``context`` (e.g. ``" 1"``).

    Returns:
        ``(context_ids, label_ids)``: the ids to run the model on, and one token id per label, in label order.

    Raises:
        ValueError: if the labels cannot be told apart by one token after the context, naming the labels and the
            tokens they start with.
    """
    attempts = [(context, list(labels))]
    shared_space = shared_leading_whitespace(labels)
    if shared_space:
        attempts.append((context + shared_space, [label[len(shared_space) :] for label in labels]))
    problems = []
    for attempt_context, attempt_labels in attempts:
        context_ids = tokenizer(attempt_context, add_special_tokens=False)["input_ids"]
        first_ids = []
        for label in attempt_labels:
            ids = tokenizer(attempt_context + label, add_special_tokens=False)["input_ids"]
            if len(ids) <= len(context_ids) or ids[: len(context_ids)] != context_ids:
                problems.append(f"{label!r} changes how the text before it is tokenized")
                break
            first_ids.append(ids[len(context_ids)])
        else:
            if len(set(first_ids)) == len(first_ids):
                return context_ids, first_ids
            tokens = [tokenizer.convert_ids_to_tokens(token) for token in first_ids]
            problems.append(f"labels {attempt_labels} start with the tokens {tokens}, which are not all different")
    raise ValueError(
        f"cannot read a distribution over the labels {list(labels)} with this tokenizer: {'; '.join(problems)}. "
        "Use judging.mode: generate for this judge."
    )


def shared_leading_whitespace(labels: Sequence[str]) -> str:
    """The whitespace every label starts with ('' when they differ), e.g. ``" "`` for ``(" 1", " 2")``."""
    leading = [label[: len(label) - len(label.lstrip())] for label in labels]
    return leading[0] if leading and leading[0] and len(set(leading)) == 1 else ""


def distribution_from_logprobs(labels: Sequence[str], logprobs: Sequence[float]) -> tuple[dict[str, float], float]:
    """Renormalise the labels' log-probabilities into a distribution over the labels.

    Args:
        labels: The labels, in order.
        logprobs: Each label's next-token log-probability (``-inf`` for a label the model gave no probability).

    Returns:
        ``(probs, mass)``: probabilities over the labels (summing to 1) and their total before renormalising.

    Raises:
        ValueError: if every label has probability zero.
    """
    finite = [value for value in logprobs if math.isfinite(value)]
    if not finite:
        raise ValueError(f"the model gave none of the labels {list(labels)} any probability")
    top = max(finite)
    weights = [math.exp(value - top) if math.isfinite(value) else 0.0 for value in logprobs]
    total = sum(weights)
    probs = {label: weight / total for label, weight in zip(labels, weights, strict=True)}
    return probs, math.exp(top) * total


def distribution_completion(labels: Sequence[str], logprobs: Sequence[float], prompt_tokens: int) -> Completion:
    """A :class:`Completion` carrying the distribution over ``labels`` (``error`` when none has probability)."""
    try:
        probs, mass = distribution_from_logprobs(labels, logprobs)
    except ValueError as err:
        return Completion("", prompt_tokens, 0, "error", error=str(err))
    return Completion(encode_label_distribution(probs, mass), prompt_tokens, 0, "stop")
