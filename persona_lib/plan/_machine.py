"""How fast this machine ran a model before: rates measured by earlier runs, for an estimate of a run's time here.

Every ``persona-eval run`` measures, for its generate and score stages, the requests the stage answered, their
prompt and generated tokens and the stage's seconds, and keeps the latest measurement per machine, backend, model and
number format (``machine_rates.json`` in the cache). :func:`estimate_lines` turns a plan into hours with them. The
estimate assumes the planned run mixes prompt and generated tokens as the measured one did: it is a guide to the
order of magnitude, stated with the run it was measured on.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from persona_lib.backends import machine_summary
from persona_lib.config import ModelConfig
from persona_lib.paths import cache_dir
from persona_lib.store import connect_read_only

RATES_FILE = "machine_rates.json"
#: The store's ``stage`` tags of the requests each pipeline stage sends, and the model that answers them.
STAGE_REQUESTS = {"generate": (("dialogue", "benchmark"), "model"), "score": (("judge",), "judge")}


@dataclass(frozen=True)
class MeasuredRate:
    """What one stage of a run took on this machine.

    Attributes:
        key: Machine, backend, model and number format (:func:`rate_key`).
        requests: Requests the stage answered.
        prompt_tokens: Their prompt tokens.
        generated_tokens: Their generated tokens.
        seconds: The stage's wall-clock time.
        measured_at: When (UTC, ISO 8601).
        run: The run folder it was measured in.
    """

    key: str
    requests: int
    prompt_tokens: int
    generated_tokens: int
    seconds: float
    measured_at: str
    run: str

    @property
    def generated_per_second(self) -> float:
        """Generated tokens per second, prompt processing included at the measured run's mix."""
        return self.generated_tokens / self.seconds if self.seconds > 0 else float("nan")


def rate_key(model: ModelConfig) -> str:
    """Machine (CPU model and usable cores), backend, model and number format: what a rate depends on."""
    machine = machine_summary()
    return f"{machine['cpu']} x{machine['cores']} | {model.backend} | {model.model} | {model.dtype}"


def _rates_path() -> Path:
    return cache_dir() / RATES_FILE


def known_rates() -> dict[str, MeasuredRate]:
    """Every rate measured on machines sharing this cache, by :func:`rate_key`."""
    path = _rates_path()
    if not path.is_file():
        return {}
    try:
        return {key: MeasuredRate(**value) for key, value in json.loads(path.read_text()).items()}
    except (ValueError, TypeError):  # a damaged or older file: measured again by the next run
        return {}


def measure_stage(
    folder: str | Path, stage: str, model: ModelConfig, started: float, seconds: float
) -> MeasuredRate | None:
    """The rate of ``stage`` from the responses it stored in the run folder since ``started`` (``time.time()``), or
    None if it stored none (everything was answered before, or the stage sends no request)."""
    tags, _ = STAGE_REQUESTS[stage]
    path = Path(folder) / "responses.sqlite"
    if seconds <= 0 or not path.is_file():
        return None
    since = datetime.fromtimestamp(started, UTC).isoformat(timespec="milliseconds")
    db = connect_read_only(path)
    try:
        marks = ",".join("?" * len(tags))
        requests, prompt, generated = db.execute(
            "SELECT COUNT(*), SUM(prompt_tokens), SUM(completion_tokens) FROM responses WHERE created >= ? AND key IN "
            f"(SELECT key FROM tags WHERE stage IN ({marks}))",
            (since, *tags),
        ).fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()
    if not requests:
        return None
    return MeasuredRate(
        key=rate_key(model),
        requests=requests,
        prompt_tokens=int(prompt or 0),
        generated_tokens=int(generated or 0),
        seconds=round(seconds, 1),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        run=str(folder),
    )


def record_rate(rate: MeasuredRate) -> None:
    """Keep ``rate`` as the latest measurement for its key."""
    rates = {key: asdict(value) for key, value in known_rates().items()}
    rates[rate.key] = asdict(rate)
    path = _rates_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{int(time.time() * 1e6)}.tmp")
    temporary.write_text(json.dumps(rates, indent=1, sort_keys=True))
    temporary.replace(path)


def estimate_lines(generated: dict[str, float], models: dict[str, ModelConfig]) -> list[str]:
    """One line per stage: its planned generated tokens turned into hours with this machine's measured rate.

    Args:
        generated: Planned generated tokens per stage (``generate``, ``score``).
        models: The model that serves each stage.
    """
    rates = known_rates()
    lines = []
    for stage, tokens in generated.items():
        model = models[stage]
        rate = rates.get(rate_key(model))
        if rate is None or not rate.generated_tokens:
            lines.append(f"{stage}: no measured rate for {model.model} ({model.backend}) on this machine yet")
            continue
        hours = tokens / rate.generated_per_second / 3600
        lines.append(
            f"{stage}: about {hours:,.1f} h here ({tokens:,.0f} generated tokens at the "
            f"{rate.generated_per_second:,.1f} tokens/s that {model.model} reached in {rate.run} on "
            f"{rate.measured_at[:10]}, at {rate.prompt_tokens / rate.generated_tokens:,.0f} prompt tokens per "
            "generated token; a run with longer prompts takes longer)"
        )
    return lines


#: Backends that run the model where a GPU can serve it (vLLM, or a server behind the OpenAI API). A run that uses
#: neither runs on this machine's CPU, where a study-sized plan takes days.
GPU_BACKENDS = frozenset({"vllm", "openai"})
#: Requests above which ``persona-eval run`` on a CPU-only configuration asks before it starts (the embedded default
#: run sends about 1,200).
CONFIRM_ABOVE_REQUESTS = 5_000
