"""Scoring a run: every configured dataset's scorer into one scores table, unit-level metrics, and checks of the
scorers themselves (the judge against human labels; similarity of persona answers to the baseline's).

What each dataset scores, and how, lives with the dataset (``persona_lib.datasets``); this package runs the
registry over a run. The IFBench checker API is re-exported here for ``persona-eval score-ifbench``.
"""

from persona_lib.datasets import (
    IFBENCH_SCORER_VERSION,
    IFBenchInputError,
    IFBenchPrompt,
    IFBenchResult,
    ensure_nltk_data,
    ifbench_accuracy,
    install_optional_nltk_resources,
    known_instruction_ids,
    load_ifbench_prompts,
    missing_nltk_resources,
    result_to_dict,
    score_ifbench,
    score_ifbench_response,
    to_ifbench_prompt,
)
from persona_lib.datasets.ifbench import accuracy_table as ifbench_accuracy_table
from persona_lib.scoring._run import persona_index, protocol_units, score_run, scoring_inputs
from persona_lib.scoring._similarity import (
    BASELINE_SIMILARITY,
    Encoder,
    baseline_similarity,
    minilm_encoder,
    similarity_units,
)
from persona_lib.scoring._validation import (
    agreement_summary,
    judge_pair_agreement,
    judge_validation_samples,
    validate_judge,
    validated_datasets,
    validation_judgements,
)
from persona_lib.stats import agreement, cohen_kappa  # re-exported: the judge validation's statistics

__all__ = [
    "BASELINE_SIMILARITY",
    "Encoder",
    "IFBENCH_SCORER_VERSION",
    "IFBenchInputError",
    "IFBenchPrompt",
    "IFBenchResult",
    "agreement",
    "agreement_summary",
    "baseline_similarity",
    "cohen_kappa",
    "judge_pair_agreement",
    "ensure_nltk_data",
    "ifbench_accuracy",
    "ifbench_accuracy_table",
    "install_optional_nltk_resources",
    "judge_validation_samples",
    "known_instruction_ids",
    "load_ifbench_prompts",
    "minilm_encoder",
    "missing_nltk_resources",
    "persona_index",
    "protocol_units",
    "result_to_dict",
    "score_ifbench",
    "score_ifbench_response",
    "score_run",
    "scoring_inputs",
    "similarity_units",
    "to_ifbench_prompt",
    "validate_judge",
    "validated_datasets",
    "validation_judgements",
]
