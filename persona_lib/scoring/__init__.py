"""Scoring: turn responses into per-item scores.

Rule-based IFBench verification lives here; judge-based metrics are added alongside it.
"""

from persona_lib.scoring._text import strip_think

# --- IFBench (rule-based) -------------------------------------------------------------------------------------------
from persona_lib.scoring._ifbench import (
    IFBENCH_SCORER_VERSION,
    IFBenchInputError,
    IFBenchPrompt,
    IFBenchResult,
    ifbench_accuracy,
    known_instruction_ids,
    load_ifbench_prompts,
    result_to_dict,
    score_ifbench,
    score_ifbench_response,
    to_ifbench_prompt,
)
from persona_lib.scoring._nltk_offline import ensure_nltk_data, missing_nltk_resources

_IFBENCH_EXPORTS = [
    "IFBENCH_SCORER_VERSION",
    "IFBenchInputError",
    "IFBenchPrompt",
    "IFBenchResult",
    "ensure_nltk_data",
    "ifbench_accuracy",
    "known_instruction_ids",
    "load_ifbench_prompts",
    "missing_nltk_resources",
    "result_to_dict",
    "score_ifbench",
    "score_ifbench_response",
    "to_ifbench_prompt",
]
# --- end IFBench ----------------------------------------------------------------------------------------------------

# --- judge-based metrics, baseline similarity, judge validation -----------------------------------------------------
from persona_lib.scoring._metrics import (
    UNIT_COLUMNS,
    bfi_error,
    bfi_profile_distance,
    bfi_profiles,
    fidelity_per_turn,
    refusal_rates,
    win_rates,
)
from persona_lib.scoring._similarity import baseline_similarity, minilm_encoder
from persona_lib.scoring._validation import (
    LABEL_KINDS,
    VALIDATION_FILES,
    ValidationSample,
    agreement,
    agreement_summary,
    cohen_kappa,
    judge_validation_samples,
    load_validation_samples,
    validate_judge,
)

_JUDGE_METRIC_EXPORTS = [
    "LABEL_KINDS",
    "UNIT_COLUMNS",
    "VALIDATION_FILES",
    "ValidationSample",
    "agreement",
    "agreement_summary",
    "baseline_similarity",
    "bfi_error",
    "bfi_profile_distance",
    "bfi_profiles",
    "cohen_kappa",
    "fidelity_per_turn",
    "judge_validation_samples",
    "load_validation_samples",
    "minilm_encoder",
    "refusal_rates",
    "validate_judge",
    "win_rates",
]
# --- end judge-based metrics ----------------------------------------------------------------------------------------

__all__ = ["strip_think", *_IFBENCH_EXPORTS, *_JUDGE_METRIC_EXPORTS]
