"""The scripted user turns of the two long-dialogue kinds.

- ``persona_directed``: an interview -- an introductory remark, 100 questions about the interviewee or small
  requests, and a concluding remark; ``{role}`` in the remarks is filled with the interviewee's name
  (``data/interview.json``).
- ``goal_oriented``: 102 real user requests from PRISM (``data/instructions.json``).
"""

from __future__ import annotations

import random
from pathlib import Path

from persona_lib._records import Record, read_json
from persona_lib.paths import data_dir

DIALOGUE_KINDS: tuple[str, ...] = ("persona_directed", "goal_oriented")
"""The two dialogue kinds of the study."""

SCRIPT_ROUNDS = 102
"""User turns in each full script (the study's dialogue length)."""

ROLE_SLOT = "{role}"
"""Placeholder in the interview remarks replaced by the interviewee's name."""

STUDY_SHUFFLE_SEED = 42
"""The seed of the study's shuffled replicate (its ``initialize_seeds``; see :func:`shuffled_order`)."""

_INTERVIEW_QUESTIONS = SCRIPT_ROUNDS - 2


def _script_path(kind: str) -> Path:
    return data_dir() / ("interview.json" if kind == "persona_directed" else "instructions.json")


def read_interview(path: str | Path, name: str) -> list[str]:
    """The 102 interview turns from ``path`` with ``{role}`` replaced by ``name``.

    Raises:
        DataFileError: if a field is missing or mistyped, or the file does not hold exactly 100 questions.
    """
    record = Record(read_json(path), path, where="top level")
    questions = record.text_list("questions")
    if len(questions) != _INTERVIEW_QUESTIONS:
        raise record.error("questions", f"expected {_INTERVIEW_QUESTIONS} questions, got {len(questions)}")
    turns = [record.text("introductory_remark"), *questions, record.text("concluding_remark")]
    return [turn.replace(ROLE_SLOT, name) for turn in turns]


def read_instructions(path: str | Path) -> list[str]:
    """The 102 goal-oriented requests from ``path``.

    Raises:
        DataFileError: if ``questions`` is missing, mistyped or does not hold exactly 102 entries.
    """
    record = Record(read_json(path), path, where="top level")
    questions = record.text_list("questions")
    if len(questions) != SCRIPT_ROUNDS:
        raise record.error("questions", f"expected {SCRIPT_ROUNDS} requests, got {len(questions)}")
    return questions


def shuffled_order(n_questions: int, seed: int = STUDY_SHUFFLE_SEED) -> list[int]:
    """The order in which the shuffled replicate asks ``n_questions`` scripted questions.

    The study seeds Python's standard-library generator with 42 and shuffles its question list in place with
    ``random.shuffle`` (authors' ``generate_dialogue.py``, ``main``: the ``--shuffle`` option). Shuffling the
    indices ``0..n-1`` with ``random.Random(seed).shuffle`` makes the same permutation, so with the default seed this
    is the order of the authors' released ``*_shuffle.json`` dialogues (checked against one released file per kind in
    ``tests/test_dialogue_scripts.py``).

    Args:
        n_questions: How many questions are permuted (100 in the interview, 102 goal-oriented requests).
        seed: The seed of ``random.Random``.

    Returns:
        Indices into the scripted question list, in the order they are asked.
    """
    order = list(range(n_questions))
    random.Random(seed).shuffle(order)
    return order


def load_script(kind: str, name: str, n_rounds: int = SCRIPT_ROUNDS, shuffle_seed: int | None = None) -> list[str]:
    """The user turns of one dialogue.

    Args:
        kind: ``persona_directed`` (interview) or ``goal_oriented`` (PRISM requests).
        name: Who the interview addresses: the character's name, or the model's display name for the
            no-persona baseline. Not used by ``goal_oriented`` scripts.
        n_rounds: Number of turns to keep (1-102); the script is truncated after any shuffling.
        shuffle_seed: ``None`` keeps the scripted order. Otherwise the turns are permuted as in the study — in the
            interview only the 100 questions (the introductory remark stays first and the concluding remark
            last), in goal-oriented dialogues all 102 requests — in :func:`shuffled_order`, and the first
            ``n_rounds`` are kept, so a shorter shuffled dialogue is a prefix of the full shuffled one with the same
            seed. ``STUDY_SHUFFLE_SEED`` (42) gives the study's own order.

    Returns:
        ``n_rounds`` user turns.

    Raises:
        ValueError: for an unknown kind or ``n_rounds`` outside 1-102.
        DataFileError: if the script file is missing or malformed.
    """
    if kind not in DIALOGUE_KINDS:
        raise ValueError(f"unknown dialogue kind {kind!r}; use one of {', '.join(DIALOGUE_KINDS)}")
    if isinstance(n_rounds, bool) or not isinstance(n_rounds, int) or not 1 <= n_rounds <= SCRIPT_ROUNDS:
        raise ValueError(f"n_rounds must be an integer from 1 to {SCRIPT_ROUNDS}, got {n_rounds!r}")
    if kind == "persona_directed":
        if not name or not name.strip():
            raise ValueError("the persona-directed interview needs a non-empty name to address")
        turns = read_interview(_script_path(kind), name)
    else:
        turns = read_instructions(_script_path(kind))
    if shuffle_seed is not None:
        fixed_ends = kind == "persona_directed"
        middle = turns[1:-1] if fixed_ends else turns
        shuffled = [middle[index] for index in shuffled_order(len(middle), shuffle_seed)]
        turns = [turns[0], *shuffled, turns[-1]] if fixed_ends else shuffled
    return turns[:n_rounds]
