"""What a results chapter shows its readers: the provenance of its numbers, and its tables formatted for a page.

Every results chapter states at its top which backend, model, judge and data produced its numbers
(:func:`show_provenance`). Its tables print numbers with fixed decimals and never ``-0.0`` (:func:`format_table`),
and its model tables carry a plain verdict beside every estimate (:func:`fit_table`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
from pandas.io.formats.style import Styler

from persona_lib.backends import get_backend
from persona_lib.config import BUNDLED_MODEL, ModelConfig, RunConfig
from persona_lib.datasets import get_dataset
from persona_lib.paths import PROJECT_ROOT
from persona_lib.plots import metric_style
from persona_lib.resolve import resolve_run_config
from persona_lib.run import Run

CPU_MODEL_WARNING = (
    "These numbers come from **SmolLM2-135M-Instruct on CPU** (the embedded default), with a deliberately small "
    "configuration. A 135M model is far below the study's models: they illustrate the pipeline, not the paper's "
    "findings."
)


SCRIPTED_WARNING = (
    "These numbers come from the **scripted test backend**: no model was run; answers are placeholder words and "
    "verdicts are drawn at random. They exercise the pipeline and mean nothing."
)


def describe_model(model: ModelConfig) -> str:
    """One line naming a model and how it was run, e.g. ``vllm · Qwen/Qwen3-4B-Instruct-2507``."""
    if not get_backend(model.backend).runs_a_model:
        return f"`{model.backend}` · no model (test backend: placeholder answers, random verdicts)"
    name = "SmolLM2-135M-Instruct (bundled, CPU)" if model.model == BUNDLED_MODEL else model.model
    where = f" at {model.base_url}" if model.base_url else ""
    invariant = " · batch-invariant mode asked (each answer's provenance says whether it applied)"
    invariant = invariant if model.batch_invariant else ""
    return f"`{model.backend}` · {name}{where}{invariant}"


def run_folder_name(folder: str | Path) -> str:
    """A run folder as a reader may see it: relative to the project, never a path of the machine that ran it.

    A relative folder (``runs/default``) is shown as it is, a folder inside the project relative to it, and any
    other absolute folder (a scratch folder, another disk) by its name alone.
    """
    path = Path(folder)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(PROJECT_ROOT.resolve()).as_posix()
    except ValueError:
        return path.name


JUDGE_MODE_NAMES = {
    "generate": "generated verdicts (reasoning, then a parsed result line)",
    "distribution": "label distributions (expected score over the allowed labels, one forward pass)",
    "both": "generated verdicts, with label distributions read beside them",
}


def describe_judging(config: RunConfig) -> str:
    """How the judge was read, e.g. ``label distributions (...); pairwise in both answer orders``."""
    text = JUDGE_MODE_NAMES[config.judging.mode]
    if config.judging.pairwise_orders == 2:
        text += "; pairwise comparisons in both answer orders"
    return text


def _main_judge_rows(agreement: pd.DataFrame | None, config: RunConfig) -> pd.DataFrame:
    """The agreement rows of the run's main judge in the mode its scores come from (empty when there are none)."""
    if agreement is None or agreement.empty:
        return pd.DataFrame(columns=["dataset", "kappa", "n"])
    mode = "generate" if config.judging.mode == "both" else config.judging.mode
    return agreement[(agreement["judge_model"] == config.judge.model) & (agreement["judge_mode"] == mode)]


def describe_agreement(agreement: pd.DataFrame | None, config: RunConfig) -> str:
    """The judge's measured agreement with people, one κ per dataset (the main judge, the mode of its scores).

    Args:
        agreement: The validate stage's table (:func:`persona_lib.scoring.agreement_summary`), or ``None``.
        config: The run configuration.
    """
    rows = _main_judge_rows(agreement, config)
    if rows.empty:
        return "not measured yet (run the validate stage)"
    parts = [f"{row.dataset} {format_number(row.kappa, 2)}" for row in rows.itertuples()]
    return f"κ {' · '.join(parts)} (n = {int(rows['n'].max())} per dataset; *Judge validation*)"


def metric_judge_notes(units: pd.DataFrame, config: RunConfig, agreement: pd.DataFrame | None) -> dict[str, str]:
    """A short note per judged metric naming the judge and its measured κ against people, for figure panels.

    The κ is the validate stage's for the metric's dataset, the run's main judge and its first judging mode; metrics
    scored by rule (IFBench) and datasets without a human-labelled sample get no note.

    Args:
        units: The unit table (its ``dataset`` and ``metric`` columns).
        config: The run configuration (the judge and the judging mode).
        agreement: The validate stage's table (:meth:`persona_lib.run.Run.judge_validation`), or ``None``.

    Returns:
        ``{metric: "judged by SmolLM2-135M-Instruct · κ 0.12"}`` (``κ not measured`` before validation).
    """
    judge = config.judge.name_in_dialogue
    kappas = dict(zip(*_main_judge_rows(agreement, config)[["dataset", "kappa"]].T.values))
    notes = {}
    for dataset, metric in units[["dataset", "metric"]].drop_duplicates().itertuples(index=False):
        if get_dataset(dataset).validation is None:
            continue
        kappa = kappas.get(dataset)
        if kappa is None:
            measured = "κ not measured"
        else:
            measured = "κ undefined" if pd.isna(kappa) else f"κ {format_number(kappa, 2)}"
        notes[metric] = f"judged by {judge} \u00b7 {measured}"
    return notes


def describe_compute(info: dict | None) -> str | None:
    """The stage timings recorded so far in ``run.json`` and the machine they come from (``None`` before any)."""
    seconds = (info or {}).get("stage_seconds") or {}
    if not seconds:
        return None
    stages = " · ".join(f"{stage} {value:,.0f} s" for stage, value in seconds.items())
    machine = (info or {}).get("machine") or {}
    if not machine:
        return stages
    bf16 = "native bfloat16" if machine.get("native_bf16") else "no native bfloat16"
    return f"{stages} (on {machine.get('cpu', 'an unrecorded CPU')}, {machine.get('cores', '?')} cores, {bf16})"


def provenance_markdown(
    config: RunConfig,
    *,
    judged: bool = True,
    judge_agreement: pd.DataFrame | None = None,
    run_info: dict | None = None,
) -> str:
    """A Markdown block stating the backend, model, judge and data behind a chapter's numbers.

    Args:
        config: The run's configuration.
        judged: Whether the chapter shows judge-based numbers (adds the judge lines: the judge, how it was read and
            its measured agreement with people).
        judge_agreement: The validate stage's agreement table, when it has run.
        run_info: The run's ``run.json`` (stage timings and machine), when stages have finished.
    """
    config = resolve_run_config(config)
    personas = ", ".join(config.personas) + (" + no-persona baseline" if config.include_baseline else "")
    limits = ", ".join(f"{name}: {limit}" for name, limit in config.item_limit.items()) or "none"
    lines = [
        "| | this chapter |",
        "|---|---|",
        f"| model under test | {describe_model(config.model)} |",
    ]
    if judged:
        lines += [
            f"| judge | {describe_model(config.judge)} |",
            f"| judging | {describe_judging(config)} |",
            f"| judge vs people | {describe_agreement(judge_agreement, config)} |",
        ]
    lines += [
        f"| personas | {personas} |",
        f"| dialogues | {', '.join(config.dialogue_kinds)}; {config.n_rounds} rounds; "
        f"checkpoints {config.resolved_checkpoints()} |",
        f"| datasets | {', '.join(config.datasets)} (item limits: {limits}) |",
        f"| decoding | temperature {config.generation.temperature}, at most "
        f"{config.generation.max_new_tokens} new tokens |",
        f"| run | `{config.name}` in `{run_folder_name(config.output_dir)}` (seed {config.seed}) |",
    ]
    compute = describe_compute(run_info)
    if compute:
        lines.append(f"| stage times so far | {compute} |")
    models = [config.model, *([config.judge] if judged else [])]
    if not all(get_backend(model.backend).runs_a_model for model in models):
        lines += ["", f"**Note.** {SCRIPTED_WARNING}"]
    elif any(model.model == BUNDLED_MODEL for model in models):
        lines += ["", f"**Note.** {CPU_MODEL_WARNING}"]
    return "\n".join(lines)


def show_provenance(config: RunConfig, *, judged: bool = True) -> None:
    """Display :func:`provenance_markdown` in a notebook, with the run's judge-validation table and stage timings
    (:class:`persona_lib.run.Run`) where they exist."""
    from IPython.display import Markdown, display

    run = Run(config.output_dir, config)
    agreement = run.judge_validation() if judged else None
    display(Markdown(provenance_markdown(config, judged=judged, judge_agreement=agreement, run_info=run.info())))


# ------------------------------------------------------------------------------------ tables as readers see them
#: The fixed-effect terms of :mod:`persona_lib.stats`' models, as a reader names them.
TERM_LABELS = {
    "checkpoint": "slope per round",
    "prefix_tokens": "slope per prefix token",
    "C(arm, Treatment('empty'))[T.persona]": "persona \u2212 baseline",
    "size": "per size step",
}
KIND_NAMES = {"persona_directed": "persona-directed", "goal_oriented": "goal-oriented"}
_ARROWS = {True: " \u2191", False: " \u2193", None: ""}


def format_number(value: object, digits: int = 1) -> str:
    """A number as a reader should see it: fixed decimals, never ``-0.0``, an em dash when missing.

    Args:
        value: A number (or anything pandas may hold: ``None``, ``NaN``, ``pd.NA``, a string).
        digits: Decimals shown.

    Returns:
        E.g. ``"98.9"``, ``"0.0"`` for ``-0.0001``, ``"—"`` for a missing value; strings are returned as they are.
    """
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return "\u2014"
    text = f"{float(value):.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_table(table: pd.DataFrame, digits: int = 1, *, hide_index: bool = False) -> Styler:
    """A table for a page: every number with :func:`format_number` (whole-number columns without decimals).

    Args:
        table: Any DataFrame (a pivot table keeps its index and column labels).
        digits: Decimals of the non-integer numbers.
        hide_index: Leave out the row labels (a plain table of records).

    Returns:
        A pandas ``Styler``; a notebook shows it as an HTML table.
    """
    formats = {}
    for column in table.columns:
        values = table[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        whole = values.dropna().apply(lambda number: float(number).is_integer()).all()
        formats[column] = functools.partial(format_number, digits=0 if whole else digits)
    styled = table.style.format(formats, na_rep="\u2014")
    return styled.hide(axis="index") if hide_index else styled


def metric_name(metric: str) -> str:
    """A metric's label with its direction, e.g. ``"Excess safety ↓"`` (``↑`` higher is better, ``↓`` lower)."""
    style = metric_style(metric)
    return f"{style.label}{_ARROWS[style.higher_is_better]}"


def fit_table(fits: pd.DataFrame, *, digits: int = 2) -> pd.DataFrame:
    """Mixed-model fits (:mod:`persona_lib.stats`) as a reader's table: one row per effect, with its verdict.

    The intercepts are left out. Every row shows the estimate with its 95% interval, the observations and
    groups it rests on, the plain verdict (:func:`persona_lib.stats.fit_verdict`) and statsmodels' warnings, so a
    fit on the boundary or with a singular Hessian is never shown as a clean one.

    Args:
        fits: The output of :func:`persona_lib.stats.length_slope`, :func:`~persona_lib.stats.persona_effect` or a
            size regression (columns of :func:`persona_lib.stats.fit_mixedlm`, optionally ``metric`` and ``kind``).
        digits: Decimals of the estimate and its interval.

    Returns:
        Columns ``metric`` (with its direction) and ``dialogue`` where present, then ``effect, estimate [95% CI],
        rests on`` (observations and random-intercept groups), ``verdict, statsmodels warnings``.
    """
    rows = fits[fits["term"].fillna("") != "Intercept"]
    table = pd.DataFrame(index=rows.index)
    if "metric" in rows.columns:
        table["metric"] = rows["metric"].map(metric_name)
    if "kind" in rows.columns:
        table["dialogue"] = rows["kind"].map(lambda kind: KIND_NAMES.get(kind, kind))
    table["effect"] = rows["term"].map(lambda term: TERM_LABELS.get(term, term) if isinstance(term, str) else "\u2014")
    table["estimate [95% CI]"] = [
        _estimate_with_interval(row.coef, row.ci_low, row.ci_high, digits) for row in rows.itertuples()
    ]
    table["rests on"] = [
        f"{n} scores in {groups} group{'s' if groups != 1 else ''}"
        for n, groups in zip(rows["n"].astype(int), rows["n_groups"].astype(int))
    ]
    table["verdict"] = rows["verdict"]
    table["statsmodels warnings"] = rows["warnings"].map(_warning_list)
    return table.reset_index(drop=True)


def _estimate_with_interval(coef: object, low: object, high: object, digits: int) -> str:
    if coef is None or pd.isna(coef):
        return "\u2014"
    # A no-break space keeps the two bounds on one line in a narrow table cell.
    return f"{format_number(coef, digits)} [{format_number(low, digits)},\u00a0{format_number(high, digits)}]"


def _warning_list(text: object) -> str:
    """statsmodels' warnings as a reader needs them: its own messages, and numpy's arithmetic warnings counted.

    The note that a second optimiser was tried is left out (the optimiser is recorded in the fit table itself).
    """
    messages = [
        message
        for message in dict.fromkeys(str(text or "").split("; "))
        if message and not message.startswith("Retrying MixedLM optimization")
    ]
    arithmetic = [message for message in messages if " encountered in " in message]
    kept = [message for message in messages if message not in arithmetic]
    if arithmetic:
        kept.append(
            f"{len(arithmetic)} numerical warning{'s' if len(arithmetic) > 1 else ''} "
            "(division by zero or invalid values)"
        )
    return "; ".join(kept) or "none"


def shorten(text: object, max_chars: int = 240) -> str:
    """A text cut at ``max_chars`` characters (on a word boundary where possible) with ``…`` appended."""
    text = " ".join(str(text).split())
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars].rsplit(" ", 1)[0] if " " in text[:max_chars] else text[:max_chars]
    return cut + " \u2026"


def sample_answers(answers: pd.DataFrame, condition: str, *, max_chars: int = 240) -> pd.DataFrame:
    """One item per dataset, as ``condition`` answered it at the first and the last checkpoint, in each dialogue.

    Items are keyed by dataset *and* item id (ids repeat across datasets), and each row names its dialogue kind: at
    the first checkpoint both kinds send the same request, so their answers differ only if generation does.

    Args:
        answers: The benchmark answers of a run (``condition, kind, checkpoint, dataset, item_id, prompt,
            response``).
        condition: A persona's name, or ``empty`` for the baseline.
        max_chars: Longest prompt or response shown (longer texts are cut, with ``…``).

    Returns:
        Columns ``dataset, item, dialogue, checkpoint, prompt, response``, sorted in that order.
    """
    mine = answers[answers["condition"] == condition]
    if mine.empty:
        raise ValueError(
            f"no benchmark answers of condition {condition!r}; conditions: "
            f"{', '.join(map(str, sorted(answers['condition'].unique())))}"
        )
    mine = mine[mine["checkpoint"].isin([mine["checkpoint"].min(), mine["checkpoint"].max()])]
    counts = mine.assign(item_id=mine["item_id"].astype(str)).groupby(["dataset", "item_id"]).size()
    counts = counts.reset_index(name="rows").sort_values(["dataset", "rows", "item_id"], ascending=[True, False, True])
    chosen = counts.drop_duplicates("dataset")[["dataset", "item_id"]]
    sample = mine.assign(item_id=mine["item_id"].astype(str)).merge(chosen, on=["dataset", "item_id"])
    sample = sample.sort_values(["dataset", "item_id", "checkpoint", "kind"], ascending=[True, True, True, False])
    return pd.DataFrame(
        {
            "dataset": sample["dataset"],
            "item": sample["item_id"],
            "dialogue": sample["kind"].map(lambda kind: KIND_NAMES.get(kind, kind)),
            "checkpoint": sample["checkpoint"],
            "prompt": sample["prompt"].map(lambda text: shorten(text, max_chars)),
            "response": sample["response"].map(lambda text: shorten(text, max_chars)),
        }
    ).reset_index(drop=True)


def scores_with_n(units: pd.DataFrame, *, digits: int = 1) -> pd.DataFrame:
    """Unit scores as a reader's table: each cell a score with the number of item scores it rests on.

    One row per metric (with its direction), dialogue kind and round — the checkpoint (rounds of dialogue before the
    item) of a benchmark metric, the judged round of dialogue fidelity — one column per condition; a cell reads
    e.g. ``"75.0 (n = 1 of 96)"``: the 0–100 score, the item scores behind it, and the items asked (scored or
    not, e.g. unparsed verdicts). A baseline judged against several characters is averaged over them first.

    Args:
        units: Unit scores (:func:`persona_lib.scoring.protocol_units`: ``metric, kind, checkpoint, condition,
            score, n_items, n_unscored``).
        digits: Decimals of the score.
    """
    from persona_lib.stats import collapse_reference_personas

    units = collapse_reference_personas(units)
    asked = units["n_items"] + units["n_unscored"]
    cells = units.assign(
        metric=units["metric"].map(metric_name),
        dialogue=units["kind"].map(lambda kind: KIND_NAMES.get(kind, kind)),
        cell=[
            f"{format_number(score, digits)} (n = {int(n)} of {int(total)})"
            for score, n, total in zip(units["score"], units["n_items"], asked)
        ],
    )
    table = cells.rename(columns={"checkpoint": "round"}).pivot_table(
        index=["metric", "dialogue", "round"], columns="condition", values="cell", aggfunc="first", sort=True
    )
    table.columns.name = None
    return table.fillna("\u2014")
