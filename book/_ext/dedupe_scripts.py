"""Sphinx extension: drop repeated identical <script> entries from each page.

With Jupyter Book 1, sphinx-thebe registers its configuration script once per ``env-before-read-docs`` event, which
fires more than once per build; the second ``const THEBE_JS_URL`` then raises a SyntaxError in the browser.
"""

from __future__ import annotations


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in scripts:
        # The same inline script may be registered with filename None and with filename "".
        filename = getattr(script, "filename", script) or ""
        identity = (str(filename), str(getattr(script, "attributes", {}).get("body", "")))
        if identity not in seen:
            seen.add(identity)
            unique.append(script)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
