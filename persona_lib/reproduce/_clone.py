"""The reproduction from a clone of the authors' repository: every row of Tables 5 and 6 from the released verdicts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from persona_lib import stats
from persona_lib.reproduce._tables import (
    TABLE_METRICS,
    _save_figures,
    model_curves,
    table_variants,
    tables_from_units,
)


@dataclass(frozen=True)
class AuthorsReproduction:
    """What :func:`run_authors_reproduction` computed from a clone of the authors' repository.

    Attributes:
        tables: Every row of Tables 5 and 6, reproduced beside published (columns :data:`TABLE_COLUMNS`).
        variants: The same rows under other readings of the specification (:func:`table_variants`).
        units: Unit scores of every metric (:func:`persona_lib.authors_release.unit_scores`).
        replicates: Dialogue fidelity per replicate, original and shuffled apart
            (:func:`persona_lib.authors_release.fidelity_replicates`).
        curves: Per-model curves of every metric (:func:`model_curves`).
        parse_report: Verdicts ``ok`` / ``fallback`` / ``unparsed`` per judge and folder.
        agreement: Selene vs Flow-Judge agreement per folder.
        bfi_crosscheck: Our parse of the BFI verdicts beside the authors' extracted ratings, item by item.
        ifbench_rescore: Per file, the released IFBench answers re-scored strict and loose (empty if skipped).
        ifbench_variants: Which IFBench scoring variant reproduces the released accuracies (empty if skipped).
        fallback_spread: How far each pairwise win rate, and each dataset's mean win rate, moves with the random
            letters given to unreadable verdicts (:func:`persona_lib.authors_release.fallback_spread`).
        reader_differences: The Selene verdicts this project's strict reader would read otherwise than the
            study's reader used here (:func:`persona_lib.authors_release.reader_differences`).
        coverage: Which parts of the release the clone holds and what each feeds
            (:func:`persona_lib.authors_release.clone_coverage`).
        row_counts: Each verdict file's rows against the items this project asks for it
            (:func:`persona_lib.authors_release.row_count_report`).
        files: Every file written, keyed by a short name.
    """

    tables: pd.DataFrame
    variants: pd.DataFrame
    units: pd.DataFrame
    replicates: pd.DataFrame
    curves: pd.DataFrame
    parse_report: pd.DataFrame
    agreement: pd.DataFrame
    bfi_crosscheck: pd.DataFrame
    ifbench_rescore: pd.DataFrame
    ifbench_variants: pd.DataFrame
    fallback_spread: pd.DataFrame
    reader_differences: pd.DataFrame
    coverage: pd.DataFrame
    row_counts: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def run_authors_reproduction(
    clone: str | Path,
    out_dir: str | Path,
    *,
    label_source: str | None = None,
    seed: int = stats.DEFAULT_SEED,
    rescore_ifbench: bool = True,
    log: Callable[[str], None] = print,
) -> AuthorsReproduction:
    """Recompute every row of Tables 5 and 6 from a local clone of the authors' repository and write it all.

    Reads every judge output under ``metrics/`` (both judges; once, into a digest cached by commit), the released
    IFBench accuracies and the authors' BFI ratings from ``results/``, and (unless ``rescore_ifbench`` is False)
    re-scores the IFBench answers under ``generations/``. Writes ``tables.csv``, ``variants.csv``, ``units.csv``,
    ``replicates.csv``, ``curves.csv``, ``parse_report.csv``, ``agreement.csv``, ``bfi_crosscheck.csv``,
    ``ifbench_rescore.csv``, ``ifbench_variants.csv``, ``fallback_spread.csv`` (1,000 draws),
    ``reader_differences.csv``, ``coverage.csv``, ``row_counts.csv`` and ``figures/`` into ``out_dir``. A partial
    clone gives what its files allow; what it lacks is logged and listed in ``coverage.csv``.

    Args:
        clone: The clone's top folder.
        out_dir: Folder to write into (created if needed).
        label_source: InCharacter label source for the BFI error (default
            :data:`persona_lib.authors_release.DEFAULT_LABEL_SOURCE`); the other source is reported as a variant.
        seed: Seed of the pairwise fallback, of its spread and of the bootstrap.
        rescore_ifbench: Re-score the IFBench answers (a few minutes on the full release).
        log: Where progress lines go (reading the verdicts once into the digest,
            :func:`persona_lib.authors_release.load_digest`).

    Raises:
        persona_lib.authors_release.CloneError: if ``clone`` holds no judge-output file (names what is missing).
    """
    from persona_lib import authors_release as release

    root = release.check_clone(clone)
    coverage = release.clone_coverage(root)
    for line in release.format_missing(coverage):
        log(line)
    lacking = release.missing_needed(root)
    if lacking:
        log(
            f"this clone lacks {len(lacking):,} of the {len(release.needed_files()):,} files Tables 5 and 6 read "
            f"(e.g. {lacking[0]}): the rows that need them rest on fewer units"
        )
    present = dict(zip(coverage["part"], coverage["present"]))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    label_source = label_source or release.DEFAULT_LABEL_SOURCE
    digest = release.load_digest(root, seed=seed, log=log)  # the verdicts read once, cached by commit
    items = digest.items
    ifbench = release.ifbench_units(root) if present[release.IFBENCH_RESULTS] else None
    rescore_ifbench = rescore_ifbench and present[release.IFBENCH_ANSWERS] and ifbench is not None
    units = release.unit_scores(items, ifbench=ifbench, label_source=label_source)
    other_source = next(source for source in ("annotation", "pdb") if source != label_source)
    other_units = release.unit_scores(items[items["dataset"] == "bfi"], label_source=other_source)
    ratings = release.load_bfi_ratings(root) if (root / release.BFI_RATINGS).is_file() else None
    authors_bfi = (
        release.unit_scores(release.items_from_bfi_ratings(ratings), label_source=label_source)
        if ratings is not None
        else None
    )
    tables = tables_from_units(units)
    variants = table_variants(units, other_label_units=other_units, authors_bfi_units=authors_bfi)
    curves = model_curves(units, seed=seed)
    rescored = release.rescore_ifbench(root) if rescore_ifbench else pd.DataFrame(columns=release.RESCORE_COLUMNS)
    result = AuthorsReproduction(
        tables=tables,
        variants=variants,
        units=units,
        replicates=release.fidelity_replicates(items),
        curves=curves,
        parse_report=release.parse_report(items),
        agreement=release.judge_agreement(items),
        bfi_crosscheck=(release.bfi_ratings_crosscheck(items, ratings) if ratings is not None else pd.DataFrame()),
        ifbench_rescore=rescored,
        ifbench_variants=release.ifbench_variant_summary(rescored),
        fallback_spread=release.fallback_spread(items, seed=seed),
        reader_differences=digest.reader_differences,
        coverage=coverage,
        row_counts=release.row_count_report(items),
    )
    for name in (
        "tables",
        "variants",
        "units",
        "replicates",
        "curves",
        "parse_report",
        "agreement",
        "bfi_crosscheck",
        "ifbench_rescore",
        "ifbench_variants",
        "fallback_spread",
        "reader_differences",
        "coverage",
        "row_counts",
    ):
        path = out / f"{name}.csv"
        getattr(result, name).to_csv(path, index=False)
        result.files[name] = path
    result.files.update(_save_figures(out, tables, curves, list(TABLE_METRICS.values())))
    return result


def format_authors_summary(result: AuthorsReproduction) -> str:
    """A few lines for the terminal: parse counts, fallback spread, judge agreement, BFI cross-check, IFBench."""
    report = result.parse_report
    lines = [
        f"verdicts read: {int(report['n_items'].sum())} ({int(report['fallback'].sum())} replaced by the study's "
        f"fallback, {int(report['unparsed'].sum())} unparsed and excluded)",
        f"read as the study read them; {len(result.reader_differences)} Selene verdicts would read otherwise with "
        "the strict last-line reader",
    ]
    spread = result.fallback_spread
    for row in spread[spread["level"] == "dataset"].itertuples():
        lines.append(
            f"{row.metric} ({row.condition}): mean win rate {row.score:.2f}, {row.min:.2f} to {row.max:.2f} "
            f"over random letters for its {row.n_fallback} unreadable verdicts"
        )
    for row in result.agreement.itertuples():
        lines.append(
            f"Selene vs Flow-Judge on {row.folder}: kappa {row.kappa:.2f} over {row.n_pairs} items "
            f"({row.n_excluded} excluded)"
        )
    check = result.bfi_crosscheck
    if not check.empty:
        compared = check[check["status"] != "missing"]
        lines.append(
            f"BFI ratings: our parse agrees with results/bfi_ratings.csv on {int(compared['agrees'].sum())}"
            f" of {len(compared)} items ({len(check) - len(compared)} rows without a judge output here)"
        )
    counts = result.row_counts
    for status in ("unexpected", "study asked more"):
        odd = counts[counts["status"] == status]
        if len(odd):
            lines.append(f"{len(odd)} verdict file(s) {status}, e.g. {odd.iloc[0]['path']}: {odd.iloc[0]['meaning']}")
    rescored = result.ifbench_rescore
    if not rescored.empty:
        lines.append(
            f"IFBench answers re-scored: {int(rescored['n_answers'].sum())} in {len(rescored)} files "
            f"({int(rescored['complete'].sum())} files answer all prompts)"
        )
    for row in result.ifbench_variants.itertuples():
        if row.n_files:
            role = " (the variant compared with the release)" if row.compared else ""
            lines.append(
                f"IFBench {row.variant}{role}: {row.n_exact} of {row.n_files} released accuracies "
                f"reproduced exactly, {row.n_consistent} consistent given {row.n_unscorable} unscorable "
                f"answers (mean gap {row.mean_abs_diff:.2f} points)"
            )
    return "\n".join(lines)
