"""Number formats of the campaign report: thousands, percentages, seconds and milliseconds."""

from __future__ import annotations

from django import template

register = template.Library()

DASH = "-"


@register.filter
def thousands(value: object) -> str:
    """12345 -> "12,345"; None -> "-"."""
    if value is None or value == "":
        return DASH
    try:
        return f"{int(value):,}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return str(value)


@register.filter
def percent(value: object) -> str:
    """A fraction as a percentage with one decimal: 0.1234 -> "12.3%"; None -> "-"."""
    if value is None:
        return DASH
    try:
        return f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DASH


@register.filter
def seconds(value: object) -> str:
    """Seconds as "m:ss" (or "h:mm:ss"); None -> "-"."""
    if value is None:
        return DASH
    try:
        total = round(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DASH
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def millis(value: object) -> str:
    """Milliseconds as "850 ms"; None -> "-"."""
    if value is None:
        return DASH
    try:
        return f"{round(float(value)):,} ms"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DASH
