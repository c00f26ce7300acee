"""What the agent is told: prompt rendering with ``{{variables}}`` and tool schemas from the outcome schema.

Three tools are offered on every call: ``record_outcome`` (generated from the campaign's outcome schema: an
enum of labels plus the typed fields), ``end_call`` and ``transfer_call``. Schemas are written once as JSON
Schema (OpenAI Realtime takes it as is) and converted to the OpenAPI subset Gemini's ``functionDeclarations``
accept.
"""

from __future__ import annotations

import re
from typing import Any

# Sent when the callee already spoke (to the answering-machine detector) and the agent has no greeting.
OPEN_CALL_INSTRUCTIONS = (
    "The person has answered the phone and said hello. Start the call now, following your instructions."
)

RECORD_OUTCOME = "record_outcome"
END_CALL = "end_call"
TRANSFER_CALL = "transfer_call"

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")

# Outcome field type -> JSON Schema.
_JSON_TYPES: dict[str, dict[str, str]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}


def render_template(template: str, variables: dict[str, Any]) -> str:
    """Replace every ``{{name}}`` with the contact's value; unknown names become empty strings.

    Args:
        template: text with ``{{variable}}`` placeholders (spaces inside the braces allowed).
        variables: the contact's variables.

    Returns:
        The rendered text. Values are inserted as plain text (``str()``), never evaluated.
    """

    def replace(match: re.Match[str]) -> str:
        value = variables.get(match.group(1))
        return "" if value is None else str(value)

    return _VARIABLE.sub(replace, template)


def outcome_tool_parameters(schema: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON Schema of ``record_outcome``'s arguments: ``{"label": <enum>, "fields": {...}}``.

    Fields of every outcome are listed together (a field shared by two outcomes appears once); each field's
    description says which outcomes use it and where it is required, since JSON Schema cannot tie required
    fields to the label without ``oneOf``, which the realtime models follow poorly.
    """
    labels = [o["label"] for o in schema]
    label_help = "; ".join(f"{o['label']}: {o.get('description', '')}".rstrip(": ") for o in schema)
    properties: dict[str, dict[str, Any]] = {}
    users: dict[str, list[str]] = {}
    for outcome in schema:
        for spec in outcome.get("fields", []):
            name = spec["name"]
            note = f"{outcome['label']}{' (required)' if spec.get('required') else ''}"
            users.setdefault(name, []).append(note)
            if name not in properties:
                properties[name] = dict(_JSON_TYPES[spec.get("type", "string")])
                if spec.get("description"):
                    properties[name]["description"] = spec["description"]
    for name, notes in users.items():
        used = f"Used with: {', '.join(notes)}."
        prior = properties[name].get("description")
        properties[name]["description"] = f"{prior} {used}" if prior else used
    return {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": labels, "description": f"The outcome. {label_help}".strip()},
            "fields": {
                "type": "object",
                "properties": properties,
                "additionalProperties": False,
                "description": "Values recorded with the outcome.",
            },
        },
        "required": ["label"],
        "additionalProperties": False,
    }


def tool_definitions(schema: list[dict[str, Any]], *, transfer_available: bool = True) -> list[dict[str, Any]]:
    """The three tools in OpenAI Realtime's function shape (``{"type": "function", name, description, parameters}``).

    Args:
        schema: the campaign's outcome schema (may be empty: then ``record_outcome`` is omitted).
        transfer_available: whether a transfer to a person is possible now; without it ``transfer_call`` is not
            offered.
    """
    tools: list[dict[str, Any]] = []
    if schema:
        tools.append(
            {
                "type": "function",
                "name": RECORD_OUTCOME,
                "description": "Record the outcome of this call as soon as it is known, before ending the call.",
                "parameters": outcome_tool_parameters(schema),
            }
        )
    tools.append(
        {
            "type": "function",
            "name": END_CALL,
            "description": "Hang up after your last sentence (say goodbye first).",
            "parameters": {
                "type": "object",
                "properties": {"reason": {"type": "string"}},
                "additionalProperties": False,
            },
        }
    )
    if transfer_available:
        # Outside the targets' staffed hours (or with none) the tool is not offered at all: a model told a transfer
        # is "unavailable" still promises one; without the tool it can only say no.
        tools.append(
            {
                "type": "function",
                "name": TRANSFER_CALL,
                "description": "Transfer the caller to a human colleague (available now). Tell the caller to hold "
                "first; the call then leaves you.",
                "parameters": {
                    "type": "object",
                    "properties": {"reason": {"type": "string"}},
                    "additionalProperties": False,
                },
            }
        )
    return tools


def to_gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Convert a JSON Schema to the OpenAPI subset of Gemini's ``Schema`` (upper-case types, no
    ``additionalProperties``)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            out["type"] = str(value).upper()
        elif key == "properties":
            out["properties"] = {name: to_gemini_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out["items"] = to_gemini_schema(value)
        elif key == "format":
            # Gemini's STRING formats are only "enum" and "date-time"; a date is described instead.
            if value in ("enum", "date-time"):
                out["format"] = value
            else:
                out["description"] = f"{schema.get('description', '')} Format: {value} (ISO 8601).".strip()
        elif key in ("description", "enum", "required", "nullable") and key not in out:
            out[key] = value
    return out


def gemini_function_declarations(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tools of `tool_definitions` as Gemini Live ``functionDeclarations``."""
    return [
        {"name": t["name"], "description": t["description"], "parameters": to_gemini_schema(t["parameters"])}
        for t in tools
    ]
