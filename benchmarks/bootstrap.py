"""Time the vectorised bootstrap on a paper-scale table and print the figures.

Paper scale: 7 models x 8 personas x 2 dialogue kinds x 10 checkpoints x 7 metrics = 7,840 unit scores, i.e.
56 resampling units (model x persona) x 140 groups. Run: ``python benchmarks/bootstrap.py [--resamples N]``.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import pandas as pd

from persona_lib.stats import bootstrap_ci

MODELS, PERSONAS, KINDS, CHECKPOINTS, METRICS = 7, 8, 2, 10, 7


def paper_scale_table(seed: int = 0) -> pd.DataFrame:
    """A synthetic unit-level table with the study's dimensions and random scores on 0-100."""
    rows = list(itertools.product(range(MODELS), range(PERSONAS), range(KINDS), range(CHECKPOINTS), range(METRICS)))
    table = pd.DataFrame(rows, columns=["model", "condition", "kind", "checkpoint", "metric"])
    table["score"] = np.random.default_rng(seed).uniform(0, 100, len(table))
    return table


def main() -> None:
    """Print table size, resamples and wall time (best of three) for one :func:`bootstrap_ci` call."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resamples", type=int, default=5_000)
    args = parser.parse_args()
    table = paper_scale_table()
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        result = bootstrap_ci(table, by=["metric", "kind", "checkpoint"], n_resamples=args.resamples, seed=0)
        timings.append(time.perf_counter() - start)
    print(f"rows: {len(table):,}  units: {MODELS * PERSONAS}  groups: {len(result)}  resamples: {args.resamples:,}")
    print(f"bootstrap_ci wall time: best {min(timings):.3f} s, median {sorted(timings)[1]:.3f} s (of 3 runs)")


if __name__ == "__main__":
    main()
