"""The paper's results for the book: every figure and table of the study, from the authors' release when present.

:func:`paper_results` is what the book's chapters on the paper call. With a clone of the authors' repository (the
run configuration's ``authors_repo``, ``make book AUTHORS_REPO=PATH``) it reads every released verdict
(:func:`persona_lib.reproduce.run_authors_reproduction`: Tables 5 and 6, the judges' agreement, the coverage and
row-count reports) and runs the cross-model analysis a study runs (:func:`persona_lib.study.analyse_units`: curves,
bars, per-model coefficients, grids) on the release's unit scores. Without one it does the same on what this project
ships, the released IFBench accuracies (``data/released/``), and :attr:`PaperResults.missing` names what the
release would add and the one command that adds it.

The result is computed once per release, seed and library version and kept (``paper_results.pickle`` in the output
folder): the chapters each call :func:`paper_results` and only the first computes.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from persona_lib import released, reproduce, stats
from persona_lib.paths import PROJECT_ROOT
from persona_lib.study import StudyAnalysis, analyse_units

#: The command that fetches the release and builds the book with it (the README's; ``make book AUTHORS_REPO=PATH``
#: with a clone at hand).
FILL_COMMAND = "make book-release"
#: What the chapters on the paper show only from a clone of the release (shipped data: IFBench alone).
RELEASE_ONLY = {
    "fidelity": "dialogue fidelity (the judged dialogue turns, metrics/in_character, style, knowledge)",
    "bfi": "BFI error (metrics/bfi)",
    "rolebench_specific": "persona-specific win rates (metrics/instruction_role_specific)",
    "rolebench_general": "general win rates (metrics/instruction_general)",
    "xstest": "safety and excess safety (metrics/xstest)",
}
_CACHE = "paper_results.pickle"


@dataclass
class PaperResults:
    """What the book's chapters on the paper show.

    Attributes:
        source: Where the numbers come from, for a chapter's provenance line.
        release: The clone read, or None (shipped data only).
        analysis: The cross-model analysis of the unit scores (:func:`persona_lib.study.analyse_units`).
        tables: Tables 5 and 6 beside the published values (``reproduce.TABLE_COLUMNS``).
        authors: Everything read from the release (:class:`persona_lib.reproduce.AuthorsReproduction`), or None.
        curves: Curves of every metric over the dialogue, pooled over models: persona mean with a bootstrap CI over
            model x persona units, and the baseline, per dialogue kind (the authors' figures of each dataset).
        length_curves: Curves against the dialogue prefix in tokens (the study's length control), per metric.
        seed: The bootstrap seed they were computed with.
        missing: One line per result family the data at hand cannot give, with the command that fills it.
        files: Figures written besides the analysis's, keyed by a short name.
    """

    source: str
    release: Path | None
    analysis: StudyAnalysis
    tables: pd.DataFrame
    authors: reproduce.AuthorsReproduction | None
    curves: pd.DataFrame
    length_curves: pd.DataFrame
    seed: int = stats.DEFAULT_SEED
    missing: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def has(self, dataset: str) -> bool:
        """Whether any unit score of ``dataset`` is at hand."""
        return bool((self.analysis.units.get("dataset", pd.Series(dtype=str)) == dataset).any())


def paper_results(
    authors_repo: str | Path | None,
    out_dir: str | Path,
    *,
    seed: int = stats.DEFAULT_SEED,
    log: Callable[[str], None] = print,
) -> PaperResults:
    """The paper's results from a clone of the authors' release, or from the shipped data; computed once and kept.

    Args:
        authors_repo: A clone of github.com/peluz/persistent-personas (``make release`` fetches one), or None.
        out_dir: Folder for the tables, figures and the kept result.
        seed: Seed of the bootstrap and of the study's pairwise fallback.
        log: Where progress lines go.

    Raises:
        persona_lib.authors_release.CloneError: if ``authors_repo`` holds no judge output (names what is missing).
    """
    out = Path(out_dir)
    key = _cache_key(authors_repo, seed)
    kept = out / _CACHE
    if kept.is_file():
        stored_key, result = pickle.loads(kept.read_bytes())
        if stored_key == key:
            return result
    result = _compute(authors_repo, out, seed=seed, log=log)
    out.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(pickle.dumps((key, result)))
    return result


def _cache_key(authors_repo: str | Path | None, seed: int) -> str:
    """The release read (its fingerprint), the seed and this library's code: a change to any recomputes."""
    from persona_lib.authors_release import release_fingerprint

    code = hashlib.sha256()
    for path in sorted((PROJECT_ROOT / "persona_lib").rglob("*.py")):
        code.update(path.read_bytes())
    release = release_fingerprint(authors_repo) if authors_repo else "shipped"
    return f"{release}|{seed}|{code.hexdigest()[:16]}"


def _compute(authors_repo: str | Path | None, out: Path, *, seed: int, log: Callable[[str], None]) -> PaperResults:
    models = released.model_metadata()
    if authors_repo:
        from persona_lib.authors_release import check_clone, release_fingerprint

        root = check_clone(authors_repo)
        authors = reproduce.run_authors_reproduction(root, out / "reproduction", seed=seed, log=log)
        units, tables = authors.units, authors.tables
        fingerprint = release_fingerprint(root)
        source = f"the authors' release (github.com/peluz/persistent-personas, {_describe(fingerprint)})"
        missing = [
            f"{what}: not in this clone ({_folder_hint(authors, dataset)})"
            for dataset, what in RELEASE_ONLY.items()
            if not (units["dataset"] == dataset).any()
        ]
    else:
        authors, root = None, None
        shipped = reproduce.run_reproduction(out / "reproduction")
        units = released.load_ifbench_results()
        tables = shipped.tables
        source = "the authors' released IFBench accuracies shipped in data/released/ (MIT)"
        missing = [f"{what}: needs the authors' release; `{FILL_COMMAND}` adds it" for what in RELEASE_ONLY.values()]
    analysis = analyse_units(units, models, out / "analysis", seed=seed, label="reproduced")
    curves = stats.checkpoint_curves(analysis.units, by=("kind",), seed=seed)
    length_curves = _length_curves(analysis.units, seed=seed)
    result = PaperResults(source, root, analysis, tables, authors, curves, length_curves, seed, missing)
    _save_figures(result, out / "analysis" / "figures")
    return result


def _describe(fingerprint: str) -> str:
    if fingerprint.startswith("files-"):
        return f"files {fingerprint.removeprefix('files-')}"
    return f"commit {fingerprint}"


def _folder_hint(authors: reproduce.AuthorsReproduction, dataset: str) -> str:
    coverage = authors.coverage
    absent = coverage[coverage["feeds"].str.startswith(f"{dataset}:") & ~coverage["present"].astype(bool)]
    parts = ", ".join(absent["part"].head(3)) if len(absent) else "no verdict file of it"
    return f"missing {parts}; `make release` fetches the whole release"


def _length_curves(units: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """The study's length control: checkpoint curves of every metric against the released prefix lengths
    (``round_lengths.csv``: tokens before each round, per model, persona and kind; a dialogue turn is its round).
    Units without a released length (none in the full release) are left out."""
    lengths = released.load_round_lengths()
    part = units.drop(columns=["family", "size", "display_name"], errors="ignore")
    if part.empty:
        return pd.DataFrame()
    part = part.merge(
        lengths.rename(columns={"round": "checkpoint"}),
        on=["model", "condition", "kind", "checkpoint"],
        how="inner",
        validate="many_to_one",
    )
    return stats.length_control_curves(part, by=("kind",), seed=seed)


def _save_figures(result: PaperResults, figures: Path) -> None:
    """Per dataset, its metrics over the dialogue pooled over models (``pooled_<dataset>``); the length control."""
    from persona_lib import plots

    if result.authors is not None and not result.authors.replicates.empty:
        replicates = stats.checkpoint_curves(result.authors.replicates, by=("replicate", "kind"), seed=result.seed)
        labels = {"original": "original question order", "shuffled": "shuffled question order"}
        figure = plots.plot_curve_grid(replicates, facet="replicate", metric="dialogue", facet_labels=labels)
        for kind, path in plots.save_figure(figure, figures / "fidelity_replicates", replicates).items():
            result.files[f"fidelity_replicates_{kind}"] = path
    for dataset, part in result.curves.groupby("dataset", sort=False):
        figure = plots.plot_curve_grid(part, facet="metric", ncols=4)
        for kind, path in plots.save_figure(figure, figures / f"pooled_{dataset}", part).items():
            result.files[f"pooled_{dataset}_{kind}"] = path
    if not result.length_curves.empty:
        curves = result.length_curves
        figure = plots.plot_curve_grid(curves, facet="metric", x="prefix_tokens", ncols=4)
        for kind, path in plots.save_figure(figure, figures / "length_control", curves).items():
            result.files[f"length_control_{kind}"] = path


def figure_path(result: PaperResults, name: str) -> Path | None:
    """The PNG of figure ``name`` (``pooled_fidelity``, ``model_grid``, ``length_control`` ...), or None if the data
    at hand could not draw it."""
    return result.files.get(f"{name}_png") or result.analysis.files.get(f"{name}_png")


def show_figure(result: PaperResults, name: str) -> None:
    """Display figure ``name`` if the data at hand drew it; display nothing otherwise (the chapter's captioned figure
    cells then render no empty figure: :func:`show_missing` says what is missing, outside the figure)."""
    from IPython.display import Image, display

    path = figure_path(result, name)
    if path is not None:
        display(Image(filename=str(path)))


def show_missing(result: PaperResults, dataset: str) -> None:
    """Say, where the data at hand has no units of ``dataset``, what it needs and the command that adds it."""
    from IPython.display import Markdown, display

    if not result.has(dataset):
        lines = [line for line in result.missing if line.startswith(RELEASE_ONLY.get(dataset, "\0"))]
        display(Markdown(f"*Not drawn from {result.source}:* {lines[0] if lines else 'no units of ' + dataset}."))
