"""Contact variables (audit F18): a flat object of short texts, whatever wrote them.

The variables fill the agent's ``{{placeholders}}`` and travel to the UA pool with each call: a list, a nested
object or a megabyte of text there breaks the originate or the prompt. The import makes them from CSV columns (keys
normalised to ``[a-z0-9_]``); the admin lets an operator edit them as JSON, so both paths hold them to this shape.
"""

from __future__ import annotations

import re
from typing import Any

KEY = re.compile(r"^[a-z0-9_]{1,64}$")


class InvalidVariables(ValueError):
    """The value is not a flat object of bounded texts; the message says what to fix."""


def check_variables(value: Any, *, max_keys: int, max_length: int) -> dict[str, str]:
    """``value`` if it is an object of at most ``max_keys`` names (``[a-z0-9_]``, 64 at most) to texts.

    Raises:
        InvalidVariables: not an object, too many names, a bad name, a value that is not text or is too long.
    """
    if not isinstance(value, dict):
        raise InvalidVariables('Variables must be an object of names to texts, like {"plan": "Gold"}.')
    if len(value) > max_keys:
        raise InvalidVariables(f"At most {max_keys} variables per contact ({len(value)} given).")
    for key, text in value.items():
        if not isinstance(key, str) or not KEY.match(key):
            raise InvalidVariables(f"Variable name {key!r}: use lower-case letters, digits and _ (64 at most).")
        if not isinstance(text, str):
            raise InvalidVariables(f"Variable {key!r}: the value must be text (in quotes), not {type(text).__name__}.")
        if len(text) > max_length:
            raise InvalidVariables(f"Variable {key!r}: at most {max_length} characters ({len(text)} given).")
    return value
