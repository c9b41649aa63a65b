"""Text from untrusted values, fit for a Markdown report, a table cell or a terminal.

Student-influenced strings (names, recipe values, what a training run reported) reach the
reports; here they become one bounded line that renders as the same characters: nothing
they hold becomes a link, an image, HTML, a table column or a terminal escape sequence.
"""

from __future__ import annotations

import re

# CommonMark lets a backslash escape every ASCII punctuation character, and only those.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(value: object, width: int = 200) -> str:
    """``value`` as one line of at most ``width`` printable characters.

    Whitespace runs become one space; control and format characters (terminal escapes,
    bidirectional overrides, NUL) become U+FFFD; a longer text is cut and ends with "...".
    """
    text = " ".join(str(value).split())
    text = "".join(ch if ch.isprintable() else "\ufffd" for ch in text)
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


def escape(value: object, width: int = 200) -> str:
    """``value`` as :func:`plain` text that Markdown renders literally, in prose or a GFM cell.

    Every ASCII punctuation character is backslash-escaped: no emphasis, link, HTML,
    entity or code span can start, and a ``|`` never splits a table row.
    """
    return _PUNCTUATION.sub(r"\\\1", plain(value, width))


def cell(text: object) -> str:
    """``text`` fit for one cell of a Markdown table: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|")


def fenced(text: str, indent: str = "", info: str = "") -> list[str]:
    """``text`` as a fenced code block, its fence longer than any backtick run inside.

    ``info``: the fence's info string (a language name such as ``json``).
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [indent + fence + info, *(indent + line for line in text.splitlines()), indent + fence]
