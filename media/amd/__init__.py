"""Answering-machine detection (AMD) on the first seconds of received audio after answer.

The public surface is small: feed an `AnsweringMachineDetector` (configured by an `AmdConfig`)
every received 20 ms frame until it returns an `AmdDecision` whose `label` is an `AmdLabel`; after
an UNKNOWN one, a `LateBeepWatch` may still find a machine's beep.
`detect` runs it over a whole recording; `frame_dbfs` is the level measure it uses.

Internals, free to change: `detector` (the streaming rules), `cadence` (the rhythm of an
utterance), `deadline` (the tree model weighed at the deadline, `deadline_model.json`),
`keywords` (machine phrases), `levels` (frame level and noise floor), `talker` (the talker's
voice told from the room), `late_beep` (after an UNKNOWN decision: the beep of a greeting that
ran past the deadline), `config`.
"""

from __future__ import annotations

from media.amd.config import AmdConfig, AmdDecision, AmdLabel
from media.amd.detector import AnsweringMachineDetector, detect
from media.amd.late_beep import LateBeepWatch
from media.amd.levels import frame_dbfs

__all__ = ["AmdConfig", "AmdDecision", "AmdLabel", "AnsweringMachineDetector", "LateBeepWatch", "detect", "frame_dbfs"]
