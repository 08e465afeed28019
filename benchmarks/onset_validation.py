"""Check the break-onset rules on synthetic dialogues with breaks injected at known rounds; print the figures.

Two kinds of series, as in the study:

* **turn level** (rounds 1..102, e.g. dialogue fidelity): every turn gets six Likert ratings (three criteria x the
  original and the shuffled replicate), each ``clip(round(level + u + e), 1, 5)`` with a turn effect ``u`` shared
  by the six ratings and a rating error ``e``; the turn's score is the mean of ``(r - 1) / 4 * 100``. The noise is
  sized so that one rating varies by about 0.6 Likert points across turns, the spread of the released human
  ratings of sampled dialogue turns (``data/released/sampled_ratings.csv``, knowledge criterion: sd 0.59; style
  and in-character sit at the ceiling there). The level is 4.5 before a break and ``4.5 - drop`` after it.
* **checkpoint** (0, 11, ..., 102, e.g. a benchmark accuracy): Gaussian noise with the sd of one released IFBench
  accuracy, estimated from the authors' results as sd(change between neighbouring checkpoints) / sqrt(2); the
  level falls by ``drop`` points at the break.

Targets (the script exits with status 1 if one is missed):

* turn level, with :data:`persona_lib.stats.TURN_RULE`: onset error <= 3 rounds in >= 90 % of broken dialogues
  (breaks after the opening window and at least ``persistence`` rounds before the end; a missed break counts as
  an error) and false breaks in <= 5 % of unbroken dialogues.
* checkpoint, with :data:`persona_lib.stats.CHECKPOINT_RULE`: a break can only be seen at the first checkpoint at
  or after it, so the error is counted in checkpoint steps from that checkpoint: 0 steps in >= 90 % of broken
  dialogues, and false breaks in <= 5 % of unbroken ones. The error in rounds is printed for information (it is
  up to 11 rounds by construction).

For information only, the script also prints how the rules fare with smaller and larger breaks, with 1.5 times
the turn-level noise, and with turn-level breaks inside the opening window or near the end of the dialogue.

Run: ``python benchmarks/onset_validation.py [--dialogues N] [--seed S]`` (about 10-25 s on 2 shared cores).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from persona_lib.released import CHECKPOINTS, load_ifbench_results
from persona_lib.stats import CHECKPOINT_RULE, TURN_RULE, BreakRule, dialogue_onsets

ROUNDS = np.arange(1, 103)
TURN_LEVEL = 4.5
TURN_SD, RATING_SD = 0.4, 0.45
RATINGS_PER_TURN = 6
TURN_DROP = 1.0
CHECKPOINT_LEVEL = 25.0
CHECKPOINT_DROP = 8.0
ONSET_TOLERANCE = 3
TARGET_DETECTED, TARGET_FALSE = 0.90, 0.05


def checkpoint_noise_sd() -> tuple[float, float]:
    """Noise sd of one released IFBench accuracy: plain and robust (MAD) sd of neighbour changes, / sqrt(2)."""
    results = load_ifbench_results()
    wide = results.pivot_table(index=["model", "condition", "kind"], columns="checkpoint", values="score")
    changes = wide.diff(axis=1).iloc[:, 1:].to_numpy().ravel()
    plain = changes.std(ddof=1) / np.sqrt(2)
    robust = 1.4826 * np.median(np.abs(changes - np.median(changes))) / np.sqrt(2)
    return float(plain), float(robust)


def turn_scores(levels: np.ndarray, rng: np.random.Generator, noise: float = 1.0) -> np.ndarray:
    """Turn scores (0-100) for latent Likert levels of shape ``(n_dialogues, n_rounds)``; ``noise`` scales both sds."""
    shared = rng.normal(0.0, noise * TURN_SD, levels.shape)
    errors = rng.normal(0.0, noise * RATING_SD, (*levels.shape, RATINGS_PER_TURN))
    ratings = np.clip(np.rint(levels[..., None] + shared[..., None] + errors), 1, 5)
    return ((ratings - 1) / 4 * 100).mean(axis=2)


def as_table(values: np.ndarray, positions: np.ndarray, label: str) -> pd.DataFrame:
    """Long scores table: one dialogue per row of ``values``, named ``<label>-<index>``."""
    n, t = values.shape
    return pd.DataFrame(
        {
            "model": "synthetic",
            "condition": np.repeat([f"{label}-{i:05d}" for i in range(n)], t),
            "kind": "goal_oriented",
            "metric": "score",
            "checkpoint": np.tile(positions, n),
            "score": values.ravel(),
        }
    )


def detect(values: np.ndarray, positions: np.ndarray, rule: BreakRule, label: str) -> pd.DataFrame:
    """Onsets of each row of ``values`` under ``rule`` (no bootstrap), in row order."""
    onsets = dialogue_onsets(as_table(values, positions, label), higher_is_better=True, rule=rule, n_resamples=0)
    return onsets.sort_values("condition", ignore_index=True)


@dataclass(frozen=True)
class Outcome:
    """Detection figures for one set of broken and one set of unbroken series."""

    hit_rate: float
    missed: float
    false_rate: float
    median_abs_error: float


def turn_level(
    n: int, rng: np.random.Generator, rule: BreakRule, drop: float, breaks: np.ndarray, noise: float = 1.0
) -> Outcome:
    """Onset figures for turn-level series with breaks at ``breaks`` (one per dialogue) and ``n`` unbroken ones."""
    broken_levels = np.where(ROUNDS[None, :] >= breaks[:, None], TURN_LEVEL - drop, TURN_LEVEL)
    found = detect(turn_scores(broken_levels, rng, noise), ROUNDS, rule, "broken")
    clean = detect(turn_scores(np.full((n, len(ROUNDS)), TURN_LEVEL), rng, noise), ROUNDS, rule, "clean")
    error = (found["onset"] - breaks).abs()
    return Outcome(
        hit_rate=float((error <= ONSET_TOLERANCE).mean()),
        missed=float((~found["broke"]).mean()),
        false_rate=float(clean["broke"].mean()),
        median_abs_error=float(error.median()),
    )


def checkpoint_level(
    n: int, rng: np.random.Generator, rule: BreakRule, sd: float, drop: float
) -> tuple[Outcome, float, float]:
    """Onset figures for checkpoint series; also the share within 3 rounds and the median error in rounds."""
    checkpoints = np.array(CHECKPOINTS)
    breaks = rng.integers(1, checkpoints[-1] + 1, n)
    levels = np.where(checkpoints[None, :] >= breaks[:, None], CHECKPOINT_LEVEL - drop, CHECKPOINT_LEVEL)
    found = detect(levels + rng.normal(0.0, sd, levels.shape), checkpoints, rule, "broken")
    clean_values = CHECKPOINT_LEVEL + rng.normal(0.0, sd, (n, len(checkpoints)))
    clean = detect(clean_values, checkpoints, rule, "clean")
    first_visible = np.searchsorted(checkpoints, breaks)
    detected_step = np.searchsorted(checkpoints, found["onset"].fillna(np.inf).to_numpy())
    steps = np.where(found["broke"], np.abs(detected_step - first_visible), np.inf)
    rounds = (found["onset"] - breaks).abs()
    outcome = Outcome(
        hit_rate=float((steps == 0).mean()),
        missed=float((~found["broke"]).mean()),
        false_rate=float(clean["broke"].mean()),
        median_abs_error=float(np.median(steps)),
    )
    return outcome, float((rounds <= ONSET_TOLERANCE).mean()), float(rounds.median())


def verdict(outcome: Outcome) -> tuple[bool, str]:
    """Whether both targets are met, and a one-line statement of the targets."""
    met = outcome.hit_rate >= TARGET_DETECTED and outcome.false_rate <= TARGET_FALSE
    targets = f"targets: >= {TARGET_DETECTED:.0%} on time, <= {TARGET_FALSE:.0%} false"
    return met, f"{targets} -> {'MET' if met else 'MISSED'}"


def main() -> int:
    """Print onset accuracy and false-break rates for both series kinds; return 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialogues", type=int, default=1_000, help="broken and unbroken dialogues per scenario")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.dialogues
    print(f"seed {args.seed}; {n} broken and {n} unbroken synthetic dialogues per scenario")

    rule = TURN_RULE
    one_turn = turn_scores(np.full((200, len(ROUNDS)), TURN_LEVEL), np.random.default_rng(args.seed + 1))
    print("\nTurn level (rounds 1..102)")
    print(f"  rule: {rule.describe()}")
    print(
        f"  noise: Likert turn effect sd {TURN_SD}, rating error sd {RATING_SD} ({RATINGS_PER_TURN} ratings per "
        f"turn) -> turn score sd {one_turn.std():.1f} points, sd of round-to-round change "
        f"{np.diff(one_turn, axis=1).std():.1f}; level {TURN_LEVEL} Likert ({(TURN_LEVEL - 1) / 4 * 100:.1f} points)"
    )
    last_start = ROUNDS[-1] - (rule.persistence or 1)
    breaks = rng.integers(rule.opening + 1, last_start + 1, n)
    main_turn = turn_level(n, rng, rule, TURN_DROP, breaks)
    turn_ok, turn_targets = verdict(main_turn)
    print(
        f"  break of {TURN_DROP} Likert ({TURN_DROP * 25:.0f} points) at rounds {rule.opening + 1}..{last_start}: "
        f"onset within {ONSET_TOLERANCE} rounds {main_turn.hit_rate:.1%} (missed {main_turn.missed:.1%}, median "
        f"|error| {main_turn.median_abs_error:.0f} rounds); false breaks {main_turn.false_rate:.1%}; {turn_targets}"
    )
    print("  for information (not targets):")
    for drop in (0.5, 0.75, 1.5):
        other = turn_level(n, rng, rule, drop, rng.integers(rule.opening + 1, last_start + 1, n))
        print(
            f"    break of {drop} Likert ({drop * 25:.1f} points): within {ONSET_TOLERANCE} rounds "
            f"{other.hit_rate:.1%}, missed {other.missed:.1%}"
        )
    noisier = turn_level(n, rng, rule, TURN_DROP, rng.integers(rule.opening + 1, last_start + 1, n), noise=1.5)
    print(
        f"    noise sds x 1.5: within {ONSET_TOLERANCE} rounds {noisier.hit_rate:.1%}, missed {noisier.missed:.1%}, "
        f"false breaks {noisier.false_rate:.1%}"
    )
    for low, high, where in ((2, rule.opening, "inside the opening window"), (last_start + 1, 102, "near the end")):
        edge = turn_level(n, rng, rule, TURN_DROP, rng.integers(low, high + 1, n))
        print(
            f"    break {where} (rounds {low}..{high}): within {ONSET_TOLERANCE} rounds {edge.hit_rate:.1%}, "
            f"missed {edge.missed:.1%}"
        )

    rule = CHECKPOINT_RULE
    plain_sd, robust_sd = checkpoint_noise_sd()
    print(f"\nCheckpoints ({', '.join(map(str, CHECKPOINTS))})")
    print(f"  rule: {rule.describe()}")
    print(
        f"  noise: sd {plain_sd:.2f} points, from released IFBench neighbour changes (robust MAD estimate "
        f"{robust_sd:.2f}; the larger is used); level {CHECKPOINT_LEVEL:g} points"
    )
    main_checkpoint, within_rounds, median_rounds = checkpoint_level(n, rng, rule, plain_sd, CHECKPOINT_DROP)
    checkpoint_ok, checkpoint_targets = verdict(main_checkpoint)
    print(
        f"  break of {CHECKPOINT_DROP:g} points at rounds 1..102: seen at the first checkpoint after it "
        f"{main_checkpoint.hit_rate:.1%} (missed {main_checkpoint.missed:.1%}); false breaks "
        f"{main_checkpoint.false_rate:.1%}; {checkpoint_targets}"
    )
    print(
        f"  in rounds: within {ONSET_TOLERANCE} rounds {within_rounds:.1%}, median |error| {median_rounds:.0f} "
        "rounds (checkpoints are ~11 rounds apart, so round-level precision is not attainable)"
    )
    print("  for information (not targets):")
    for drop in (4.0, 6.0, 12.0):
        other, _, _ = checkpoint_level(n, rng, rule, plain_sd, drop)
        print(
            f"    break of {drop:g} points: seen at the first checkpoint after it {other.hit_rate:.1%}, "
            f"missed {other.missed:.1%}"
        )

    met = turn_ok and checkpoint_ok
    print(f"\n{'all targets met' if met else 'TARGET MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
