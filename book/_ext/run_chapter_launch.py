"""Sphinx extension: a results chapter's launch buttons open the pipeline notebook that made it.

The results chapters are executed copies in ``book/run/``, which the repository does not hold, so the theme's
Binder, Colab and JupyterHub links to ``book/run/<name>.ipynb`` would lead nowhere. They open
``notebooks/<name>.ipynb`` instead: the same notebook, whose default ``config`` parameter re-runs the chapter.
"""

from __future__ import annotations

from persona_lib.book import BOOK_RUN_DIR, PIPELINE_NOTEBOOK_DIR


def _launch_pipeline_notebooks(app, pagename, templatename, context, doctree) -> None:
    copies, sources = f"{BOOK_RUN_DIR.as_posix()}/", f"{PIPELINE_NOTEBOOK_DIR.as_posix()}/"
    if not pagename.startswith(copies):
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "launch-buttons":
            for button in group["buttons"]:
                if "url" in button:
                    button["url"] = button["url"].replace(copies, sources)


def setup(app):
    # After sphinx-book-theme adds its launch buttons (priority 501), before the page is rendered.
    app.connect("html-page-context", _launch_pipeline_notebooks, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
