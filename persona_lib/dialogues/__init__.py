"""Long dialogues: the scripted user turns (and, in other modules, their generation)."""

from persona_lib.dialogues._scripts import (
    DIALOGUE_KINDS,
    SCRIPT_ROUNDS,
    STUDY_SHUFFLE_SEED,
    load_script,
    shuffled_order,
)

__all__ = ["DIALOGUE_KINDS", "SCRIPT_ROUNDS", "STUDY_SHUFFLE_SEED", "load_script", "shuffled_order"]
