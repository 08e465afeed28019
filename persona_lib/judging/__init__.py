"""The LLM judge: templates, strict verdict parsing, and judge calls through the response store.

What each dataset asks the judge lives with the dataset (``persona_lib.datasets``); this package renders templates,
runs :class:`JudgeTask` objects and parses their verdicts.

>>> from persona_lib.judging import parse_likert
>>> parse_likert("**Reasoning:** The reply stays in role throughout.\\n\\n**Result:** 5").value
5
"""

from persona_lib.judging._parsing import (
    ParsedVerdict,
    ParseStatus,
    parse_binary,
    parse_likert,
    parse_pairwise,
    parse_study_binary,
    parse_study_likert,
    parse_study_pairwise,
    parse_study_verdict,
    study_fallback,
)
from persona_lib.judging._runner import (
    JUDGE_SCORER_VERSION,
    NO_RESPONSE_REASON,
    Fallback,
    JudgeCall,
    JudgeCallGroup,
    JudgeMode,
    JudgeTask,
    judge_call_groups,
    judge_modes,
    judge_sampling,
    run_judge_tasks,
    unparsed_counts,
    unscored_row,
)
from persona_lib.judging._templates import (
    JudgeTemplate,
    VerdictKind,
    answer_format,
    character_block,
    render_judge_prompt,
)
from persona_lib.judging._verdicts import (
    RESULT_PREFIX,
    TIE,
    VERDICT_LABELS,
    Verdict,
    distribution_verdict,
    likert_score,
    position_bias,
)

__all__ = [
    "Fallback",
    "answer_format",
    "study_fallback",
    "JUDGE_SCORER_VERSION",
    "NO_RESPONSE_REASON",
    "JudgeCall",
    "JudgeCallGroup",
    "JudgeMode",
    "JudgeTask",
    "JudgeTemplate",
    "RESULT_PREFIX",
    "TIE",
    "VERDICT_LABELS",
    "Verdict",
    "distribution_verdict",
    "judge_call_groups",
    "judge_modes",
    "position_bias",
    "ParseStatus",
    "ParsedVerdict",
    "VerdictKind",
    "character_block",
    "judge_sampling",
    "likert_score",
    "parse_binary",
    "parse_likert",
    "parse_pairwise",
    "parse_study_binary",
    "parse_study_likert",
    "parse_study_pairwise",
    "parse_study_verdict",
    "render_judge_prompt",
    "run_judge_tasks",
    "unparsed_counts",
    "unscored_row",
]
