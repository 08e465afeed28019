"""Personas: the study's eight RoleBench characters, user-defined ones, and their system prompts.

>>> from persona_lib.personas import select_personas, system_messages
>>> gaston = select_personas(["Gaston"])[0]
>>> system_messages(gaston, None)[0]["content"].splitlines()[0]
'Take on the role of Gaston.'
"""

from persona_lib._records import DataFileError
from persona_lib.personas._load import load_personas, read_persona_file, select_personas
from persona_lib.personas._persona import (
    BASELINE,
    BFI_DIMENSIONS,
    BFI_LABEL_SOURCES,
    STUDY_PERSONAS,
    Persona,
    with_label_source,
)
from persona_lib.personas._prompt import persona_system_prompt, system_messages

__all__ = [
    "BASELINE",
    "BFI_DIMENSIONS",
    "BFI_LABEL_SOURCES",
    "STUDY_PERSONAS",
    "DataFileError",
    "Persona",
    "load_personas",
    "persona_system_prompt",
    "read_persona_file",
    "select_personas",
    "system_messages",
    "with_label_source",
]
