"""Profile stability: how much a Big-Five (BFI) profile changes across a dialogue's checkpoints.

:func:`profile_stability` compares each checkpoint's profile with the first and the previous one (ipsative
correlation over dimensions and mean absolute change of levels), per model x condition x kind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from persona_lib.stats._aggregate import DIALOGUE, require_columns


def _profile_comparison(current: np.ndarray, earlier: np.ndarray, min_dimensions: int) -> tuple[float, float, int, str]:
    shared = ~np.isnan(current) & ~np.isnan(earlier)
    n = int(shared.sum())
    if n == 0:
        return np.nan, np.nan, 0, "no dimension scored at both checkpoints"
    change = float(np.mean(np.abs(current[shared] - earlier[shared])))
    if n < min_dimensions:
        return np.nan, change, n, f"correlation needs {min_dimensions} shared dimensions, have {n}"
    a, b = current[shared], earlier[shared]
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return np.nan, change, n, "a profile is flat (all dimensions equal): correlation undefined"
    return float(np.corrcoef(a, b)[0, 1]), change, n, ""


def profile_stability(profiles: pd.DataFrame, *, position: str = "checkpoint", min_dimensions: int = 3) -> pd.DataFrame:
    """Test-retest (ipsative) stability of Big-Five profiles across checkpoints, per model x condition x kind.

    Each checkpoint's profile (the mean level of each dimension, 1-5) is compared with the profile at the first
    checkpoint (``initial``, t = 0 in the study) and with the previous checkpoint (``previous``): ``r`` is the
    Pearson correlation over dimensions (the ipsative, within-profile correlation: it compares the profile's
    shape and ignores a shift of all dimensions together), ``mean_abs_change`` the mean absolute difference of
    levels (catches such shifts; in level units, x 25 for the 0-100 scale).

    Args:
        profiles: Output of :func:`persona_lib.datasets.bfi.bfi_profiles` (``model, condition, kind, checkpoint,
            dimension, level``).
        position: The checkpoint column.
        min_dimensions: Fewest dimensions scored at both checkpoints for a correlation.

    Returns:
        One row per unit, checkpoint after the first and comparison: ``model, condition, kind, checkpoint,
        comparison, compared_with, r, mean_abs_change, n_dimensions, note`` (why ``r`` is missing).
    """
    require_columns(profiles, [*DIALOGUE, position, "dimension", "level"], "profile_stability()")
    duplicated = profiles.duplicated([*DIALOGUE, position, "dimension"])
    if duplicated.any():
        example = profiles.loc[duplicated, [*DIALOGUE, position, "dimension"]].iloc[0].to_dict()
        raise ValueError(f"several levels for one profile dimension, e.g. {example}; pass one row per dimension")
    rows = []
    for key, part in profiles.groupby(list(DIALOGUE), sort=True):
        wide = part.pivot_table(index=position, columns="dimension", values="level", aggfunc="first", dropna=False)
        checkpoints, levels = wide.index.to_numpy(), wide.to_numpy(dtype=float)
        for index in range(1, len(checkpoints)):
            for comparison, earlier in (("initial", 0), ("previous", index - 1)):
                r, change, n, note = _profile_comparison(levels[index], levels[earlier], min_dimensions)
                rows.append((*key, checkpoints[index], comparison, checkpoints[earlier], r, change, n, note))
    columns = [*DIALOGUE, position, "comparison", "compared_with", "r", "mean_abs_change", "n_dimensions", "note"]
    return pd.DataFrame(rows, columns=columns)
