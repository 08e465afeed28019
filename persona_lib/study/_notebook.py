"""Executing the study notebook (``notebooks/study.ipynb``) for a study folder, with papermill."""

from __future__ import annotations

from pathlib import Path

from persona_lib.paths import PROJECT_ROOT
from persona_lib.study._folder import Study

STUDY_NOTEBOOK = PROJECT_ROOT / "notebooks" / "study.ipynb"


def execute_study_notebook(study: Study, kernel_name: str = "python3") -> Path:
    """Run the study notebook on ``study`` (its one parameter, ``config``, is the study's resolved configuration).

    Returns:
        The executed notebook, ``<study>/notebooks/study.ipynb``.

    Raises:
        papermill.PapermillExecutionError: when a cell fails (the partly executed notebook is kept).
    """
    import papermill

    study.notebooks_dir.mkdir(parents=True, exist_ok=True)
    target = study.notebooks_dir / STUDY_NOTEBOOK.name
    config = study.config.model_copy(update={"output_dir": str(study.folder.resolve())})
    papermill.execute_notebook(
        str(STUDY_NOTEBOOK),
        str(target),
        parameters={"config": config.model_dump(mode="json")},
        kernel_name=kernel_name,
        cwd=str(PROJECT_ROOT),
        progress_bar=False,
    )
    return target
