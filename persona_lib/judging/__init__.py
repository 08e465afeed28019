"""The LLM judge: templates, strict verdict parsing, and judge runs through the response store.

>>> from persona_lib.judging import parse_likert
>>> parse_likert("The answer stays in role throughout.\\nRESULT: 5").value
5
"""

from persona_lib.judging._parsing import ParsedVerdict, ParseStatus, parse_binary, parse_likert, parse_pairwise
from persona_lib.judging._runner import (
    JUDGE_SCORER_VERSION,
    JUDGED_DATASETS,
    SCORE_COLUMNS,
    JudgeTask,
    build_benchmark_tasks,
    build_fidelity_tasks,
    judge_responses,
    judge_sampling,
    likert_score,
    reference_position,
    run_judge_tasks,
    turn_id,
    unparsed_counts,
)
from persona_lib.judging._templates import (
    BIG_FIVE_GLOSSES,
    FIDELITY_CRITERIA,
    TEMPLATE_NAMES,
    character_block,
    render_judge_prompt,
)

__all__ = [
    "BIG_FIVE_GLOSSES",
    "FIDELITY_CRITERIA",
    "JUDGED_DATASETS",
    "JUDGE_SCORER_VERSION",
    "SCORE_COLUMNS",
    "TEMPLATE_NAMES",
    "JudgeTask",
    "ParseStatus",
    "ParsedVerdict",
    "build_benchmark_tasks",
    "build_fidelity_tasks",
    "character_block",
    "judge_responses",
    "judge_sampling",
    "likert_score",
    "parse_binary",
    "parse_likert",
    "parse_pairwise",
    "reference_position",
    "render_judge_prompt",
    "run_judge_tasks",
    "turn_id",
    "unparsed_counts",
]
