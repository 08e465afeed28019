"""Long dialogues: the scripted user turns (and, in other modules, their generation)."""

from persona_lib.dialogues._scripts import DIALOGUE_KINDS, SCRIPT_ROUNDS, load_script

__all__ = ["DIALOGUE_KINDS", "SCRIPT_ROUNDS", "load_script"]
