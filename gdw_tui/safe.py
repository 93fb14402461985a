"""Making storage data harmless before it reaches the terminal: the sanitiser is
:mod:`gdw_core.display` (shared with the CLI); this adds the Rich ``Text`` form."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from gdw_core.display import clean, json_text, markup, shorten

__all__ = ["clean", "json_text", "markup", "shorten", "text"]


def text(value: Any, style: str = "", *, multiline: bool = False) -> Text:
    """A Rich Text of ``value`` (never parsed as markup)."""
    return Text(clean(value, multiline=multiline), style=style)
