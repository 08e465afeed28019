"""The LLM judge: templates, strict verdict parsing, and judge calls through the response store.

What each dataset asks the judge lives with the dataset (``persona_lib.datasets``); this package renders templates,
runs :class:`JudgeTask` objects and parses their verdicts.

>>> from persona_lib.judging import parse_likert
>>> parse_likert("The answer stays in role throughout.\\nRESULT: 5").value
5
"""

from persona_lib.judging._parsing import ParsedVerdict, ParseStatus, parse_binary, parse_likert, parse_pairwise
from persona_lib.judging._runner import (
    JUDGE_SCORER_VERSION,
    NO_RESPONSE_REASON,
    JudgeTask,
    VerdictKind,
    judge_sampling,
    likert_score,
    run_judge_tasks,
    unparsed_counts,
    unscored_row,
)
from persona_lib.judging._templates import BIG_FIVE_GLOSSES, TEMPLATE_NAMES, character_block, render_judge_prompt

__all__ = [
    "BIG_FIVE_GLOSSES",
    "JUDGE_SCORER_VERSION",
    "NO_RESPONSE_REASON",
    "TEMPLATE_NAMES",
    "JudgeTask",
    "ParseStatus",
    "ParsedVerdict",
    "VerdictKind",
    "character_block",
    "judge_sampling",
    "likert_score",
    "parse_binary",
    "parse_likert",
    "parse_pairwise",
    "render_judge_prompt",
    "run_judge_tasks",
    "unparsed_counts",
    "unscored_row",
]
