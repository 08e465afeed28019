"""Extending the compendium: a judged benchmark with its own judge template, and a backend, each one new module.

Both modules live in a temporary package outside the library; the run configuration names them
(``dataset_modules``, ``backend_modules``) and nothing else is edited. The run goes through the same stage functions
the notebooks call.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

from persona_lib import stages
from persona_lib.backends import _registry as backend_registry
from persona_lib.backends import create_backend
from persona_lib.checks import check_config
from persona_lib.config import RunConfig
from persona_lib.datasets import _registry as dataset_registry
from persona_lib.judging import render_judge_prompt
from persona_lib.paths import PROJECT_ROOT
from persona_lib.run import Run

BACKEND_MODULE = '''
"""A backend of the user's own: it answers every conversation by counting its messages, and always agrees."""
from persona_lib.backends import BackendSpec, register_backend
from persona_lib.contract import Completion


class CountingBackend:
    name = "counting"

    def __init__(self, config):
        self.model = config.model

    def version_info(self):
        return {"backend": self.name, "model": self.model}

    def generate(self, conversations, params):
        return [Completion(f"I count {len(messages)} messages.\\n**Result:** yes", len(messages), 8, "stop")
                for messages in conversations]


register_backend(BackendSpec(name="counting", create=CountingBackend, model_source="none", tokens_per_word=1.0))
'''

BENCHMARK_MODULE = '''
"""A judged benchmark of the user's own: opinion questions, and the judge prompt that rates them."""
from persona_lib.datasets import BenchmarkItem, DatasetSpec, MetricSpec, mean_units, per_answer_tasks, register_dataset
from persona_lib.judging import JudgeTask, JudgeTemplate, render_judge_prompt

TEMPLATE = JudgeTemplate(
    name="toy_opinion",
    text="${character_block}\\n\\nA user asked:\\n${query}\\n\\nDoes this reply give an opinion?\\n${response}\\n\\n"
    "${answer_format}\\n",
    verdict="binary",
    fields=frozenset({"query", "response"}),
)


def load(path=None):
    return [BenchmarkItem("toy_opinion", "o1", "Is tea better than coffee?"),
            BenchmarkItem("toy_opinion", "o2", "Are cats better than dogs?")]


def opinion_tasks(inputs):
    def make_task(answer, item, row):
        persona = inputs.personas.get(answer["condition"])
        prompt = render_judge_prompt(TEMPLATE, character_name=persona.name if persona else None,
                                     character_description=persona.description if persona else None,
                                     query=answer["prompt"], response=answer["response"])
        return JudgeTask(prompt=prompt, verdict="binary", row=row)

    return per_answer_tasks(inputs, make_task, lambda item: "toy_opinion_rate")


SPEC = register_dataset(DatasetSpec(
    name="toy_opinion", version=1, title="Toy opinions", source="written for the test", description="Opinions.",
    metrics=(MetricSpec("toy_opinion_rate", "Answers giving an opinion", "%", True),),
    load=load, judge_tasks=opinion_tasks, units=mean_units, judge_templates=(TEMPLATE,),
))
'''


@pytest.fixture()
def plugins(tmp_path, monkeypatch):
    package = tmp_path / "plugins" / "toyplug"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "backend.py").write_text(textwrap.dedent(BACKEND_MODULE))
    (package / "bench.py").write_text(textwrap.dedent(BENCHMARK_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setattr(dataset_registry, "_DATASETS", dict(dataset_registry._DATASETS))  # gone after the test
    monkeypatch.setattr(backend_registry, "_BACKENDS", dict(backend_registry._BACKENDS))
    for module in ("toyplug", "toyplug.backend", "toyplug.bench"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    return package


def test_a_judged_benchmark_and_a_backend_are_each_one_module(plugins, tmp_path):
    config = RunConfig(
        output_dir=str(tmp_path / "run"),
        personas=["Gaston"],
        dialogue_kinds=["goal_oriented"],
        n_rounds=2,
        checkpoints=[0, 2],
        shuffled_replicate=False,
        datasets=["toy_opinion"],
        dataset_modules=["toyplug.bench"],
        backend_modules=["toyplug.backend"],
        model={"backend": "counting", "model": "counter"},
        judge={"backend": "counting", "model": "counter-judge"},
    )
    report = check_config(config)
    assert report.ok, report.format()
    run = Run.create(config)
    dialogues = stages.dialogues(run, create_backend(run.config.model))
    counted = dialogues.set_index(["condition", "round"])["assistant"].str.extract(r"count (\d+)")[0].astype(int)
    assert counted.to_dict() == {("Gaston", 1): 2, ("Gaston", 2): 4, ("empty", 1): 1, ("empty", 2): 3}  # + system
    answers = stages.benchmark_answers(run, create_backend(run.config.model), dialogues)
    assert len(answers) == 2 * 2 * 2  # conditions x checkpoints x items
    tables = stages.scores(run, create_backend(run.config.judge), answers, dialogues)
    assert (tables.scores["parse_status"] == "ok").all() and (tables.scores["value"] == True).all()  # noqa: E712
    assert set(tables.units["metric"]) == {"toy_opinion_rate"} and (tables.units["score"] == 100.0).all()
    template = sys.modules["toyplug.bench"].TEMPLATE
    first = answers.iloc[0]
    sent = run.store.get(tables.scores.iloc[0]["judge_key"]).messages[0]["content"]
    gaston = run.personas()[0]
    assert sent == render_judge_prompt(
        template,
        character_name=gaston.name,
        character_description=gaston.description,
        query=first["prompt"],
        response=first["response"],
    )


def test_nothing_in_the_library_names_the_plugins():
    library = "\n".join(path.read_text(encoding="utf-8") for path in (PROJECT_ROOT / "persona_lib").rglob("*.py"))
    assert not [name for name in ("toyplug", "CountingBackend", "toy_opinion") if name in library]


def test_an_unknown_backend_is_named_with_the_registered_ones(tmp_path):
    report = check_config(
        RunConfig(output_dir=str(tmp_path / "run"), model={"backend": "llamacpp"}), stages=["generate"]
    )
    [problem] = [problem for problem in report.errors if problem.field == "model.backend"]
    assert problem.what == "unknown backend 'llamacpp'"
    assert "registered backends: openai, scripted, transformers, vllm" in problem.fix
    assert "backend_modules" in problem.fix
