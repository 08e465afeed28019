"""The columns of the two tables every stage exchanges: item scores and unit scores."""

from __future__ import annotations

SCORE_COLUMNS: list[str] = [
    "model",
    "condition",
    "persona",
    "kind",
    "checkpoint",
    "replicate",
    "dataset",
    "metric",
    "item_id",
    "dimension",
    "reference_position",
    "raw_judgement",
    "value",
    "score",
    "scorer_version",
    "judge_model",
    "parse_status",
    "parse_reason",
    "judge_key",
    "judge_mode",
    "label_probs",
    "value_distribution",
    "score_distribution",
    "order_flipped",
]
"""The scores table: one row per scored item (and per criterion for dialogue fidelity). ``checkpoint`` is the round
for dialogue turns; ``persona`` is the character the item concerns (the condition's persona, or the RoleBench item's
character when the baseline answers it); ``dimension`` is set for BFI rows and ``reference_position`` for pairwise
rows; ``score`` is on 0–100 and NaN when nothing could be scored (``parse_status`` says why). ``judge_mode`` says how
``value`` and ``score`` were read from the judge (``generate`` or ``distribution``); a label distribution read in
either mode is kept in ``label_probs`` (JSON) with its verdict and score (``value_distribution``,
``score_distribution``); ``order_flipped`` is set for pairwise rows judged in both orders."""

RULE_BASED = "rule-based"
"""The scores table's ``judge_model`` for rows scored by rule rather than by a judge."""

UNIT_KEY: list[str] = ["model", "condition", "kind", "checkpoint"]
"""One evaluation unit: a model in a condition, after ``checkpoint`` rounds of a dialogue of one kind."""

UNIT_ID: list[str] = [*UNIT_KEY, "dataset", "metric"]
"""One unit score's identity: the unit, and the metric (of a dataset) it was scored on."""

UNIT_COLUMNS: list[str] = [*UNIT_ID, "reference_persona", "score", "n_items", "n_unscored"]
"""The unit table: one 0–100 score per unit and metric, with the number of item scores behind it and the number of
items that could not be scored (unparsed verdicts, unscorable prompts). ``reference_persona`` is the character the
score was judged or measured against: the condition itself for a persona; for the baseline, one row per character
where the score depends on one (dialogue fidelity and RoleBench judged against each character's description, BFI
error against each labelled character's profile), and empty where it does not (IFBench, XSTest)."""
