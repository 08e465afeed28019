"""What the study chapter states at its top: the models, their size codes, the judge and the protocol."""

from __future__ import annotations

from persona_lib.backends import get_backend
from persona_lib.report import SCRIPTED_WARNING, describe_model
from persona_lib.study._config import StudyConfig


def study_provenance_markdown(config: StudyConfig) -> str:
    """A Markdown block naming every model under test (family, size code, backend), the judge and the protocol."""
    protocol = config.protocol
    lines = ["| model | family | size | backend · model |", "|---|---|---|---|"]
    lines += [f"| {m.label} | {m.family} | {m.size} | {describe_model(m.model)} |" for m in config.models]
    personas = ", ".join(protocol.personas) + (" + no-persona baseline" if protocol.include_baseline else "")
    lines += [
        "",
        f"**Judge:** {describe_model(config.judge.model)}. **Personas:** {personas}. **Dialogues:** "
        f"{', '.join(protocol.dialogue_kinds)}; {protocol.n_rounds} rounds; checkpoints "
        f"{protocol.resolved_checkpoints()}. **Datasets:** {', '.join(protocol.datasets)}. "
        f"**Study:** `{config.name}` in `{config.folder}`.",
    ]
    if not all(
        get_backend(model.backend).runs_a_model for model in [*(m.model for m in config.models), config.judge.model]
    ):
        lines += ["", f"**Note.** {SCRIPTED_WARNING}"]
    return "\n".join(lines)


def show_study_provenance(config: StudyConfig) -> None:
    """Display :func:`study_provenance_markdown` in a notebook."""
    from IPython.display import Markdown, display

    display(Markdown(study_provenance_markdown(config)))
