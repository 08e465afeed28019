"""Small helpers shared by the generation stages."""

from __future__ import annotations

from persona_lib.config import SamplingConfig
from persona_lib.contract import SamplingParams

ORIGINAL = "original"
SHUFFLED = "shuffled"


def sampling_params(config: SamplingConfig) -> SamplingParams:
    """The backend decoding parameters for a configured :class:`~persona_lib.config.SamplingConfig`."""
    return SamplingParams(
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed,
    )
