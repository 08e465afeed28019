"""What every results chapter states at its top: which backend, model, judge and data produced its numbers."""

from __future__ import annotations

from persona_lib.config import BUNDLED_MODEL, ModelConfig, RunConfig

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
    if model.backend == "scripted":
        return "`scripted` · no model (test backend: placeholder answers, random verdicts)"
    name = "SmolLM2-135M-Instruct (bundled, CPU)" if model.model == BUNDLED_MODEL else model.model
    where = f" at {model.base_url}" if model.base_url else ""
    return f"`{model.backend}` · {name}{where}"


def provenance_markdown(config: RunConfig, *, judged: bool = True) -> str:
    """A Markdown block stating the backend, model, judge and data behind a chapter's numbers.

    Args:
        config: The run's configuration.
        judged: Whether the chapter shows judge-based numbers (adds the judge line).
    """
    personas = ", ".join(config.personas) + (" + no-persona baseline" if config.include_baseline else "")
    limits = ", ".join(f"{name}: {limit}" for name, limit in config.item_limit.items()) or "none"
    lines = [
        "| | this chapter |",
        "|---|---|",
        f"| model under test | {describe_model(config.model)} |",
    ]
    if judged:
        lines.append(f"| judge | {describe_model(config.judge)} |")
    lines += [
        f"| personas | {personas} |",
        f"| dialogues | {', '.join(config.dialogue_kinds)}; {config.n_rounds} rounds; "
        f"checkpoints {config.resolved_checkpoints()} |",
        f"| datasets | {', '.join(config.datasets)} (item limits: {limits}) |",
        f"| decoding | temperature {config.generation.temperature}, at most "
        f"{config.generation.max_new_tokens} new tokens |",
        f"| run | `{config.name}` in `{config.output_dir}` (seed {config.seed}) |",
    ]
    models = [config.model, *([config.judge] if judged else [])]
    if any(model.backend == "scripted" for model in models):
        lines += ["", f"**Note.** {SCRIPTED_WARNING}"]
    elif any(model.model == BUNDLED_MODEL for model in models):
        lines += ["", f"**Note.** {CPU_MODEL_WARNING}"]
    return "\n".join(lines)


def show_provenance(config: RunConfig, *, judged: bool = True) -> None:
    """Display :func:`provenance_markdown` in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(provenance_markdown(config, judged=judged)))
