"""The view's layout: two columns side by side or one, wrapped to ``WIDTH`` with hanging
indents (JSON stays readable), each side bounded to ``MAX_LINES``."""

from __future__ import annotations

import re
import textwrap

#: Characters per line of the whole rendering. mitmweb's detail pane, at half of a 1600 px
#: window, shows about 95 monospace characters before it scrolls sideways.
WIDTH = 96
GUTTER = " │ "
#: Lines kept per side (after wrapping); the Raw view always has the whole body (mitmweb
#: itself shows 512 lines, then "Show more").
MAX_LINES = 4000


def side_by_side(left_title: str, left: list[str], right_title: str, right: list[str]) -> list[str]:
    """Two columns; a column narrower than half the width leaves the rest to the other."""
    half = (WIDTH - len(GUTTER)) // 2
    natural_left = max([len(left_title)] + [len(s) for s in left[:MAX_LINES]])
    natural_right = max([len(right_title)] + [len(s) for s in right[:MAX_LINES]])
    budget = WIDTH - len(GUTTER)
    if natural_left + natural_right <= budget:
        lw, rw = natural_left, natural_right
    elif natural_left <= half:
        lw, rw = natural_left, budget - natural_left
    elif natural_right <= half:
        lw, rw = budget - natural_right, natural_right
    else:
        lw, rw = half, budget - half
    a, b = wrap_all(left, lw), wrap_all(right, rw)
    rows = [
        f"{left_title[:lw]:<{lw}}{GUTTER}{right_title[:rw]}",
        f"{'─' * lw}─┼─{'─' * rw}",
    ]
    for i in range(max(len(a), len(b))):
        rows.append(
            f"{a[i] if i < len(a) else '':<{lw}}{GUTTER}{b[i] if i < len(b) else ''}".rstrip()
        )
    return rows


def single(title: str, body: list[str]) -> list[str]:
    return [title, "─" * min(WIDTH, max(len(title), 40)), *wrap_all(body, WIDTH)]


def wrap_all(lines: list[str], width: int) -> list[str]:
    out: list[str] = []
    for i, line in enumerate(lines):
        out += wrap(line, width)
        if len(out) >= MAX_LINES:
            more = len(lines) - i - 1
            out = out[:MAX_LINES]
            if more > 0:
                out.append(f"… {more} more lines (see the Raw view)")
            break
    return out


def wrap(line: str, width: int) -> list[str]:
    """Wrap one line, continuation lines indented under its start (JSON stays readable)."""
    if len(line) <= width:
        return [line]
    indent = len(line) - len(line.lstrip(" "))
    if line.startswith("#"):  # an event: continue under its payload
        indent = line.find(" ") + 1
    hang = " " * min(indent + 2, width // 2)
    return Wrapper(width, subsequent_indent=hang).wrap(line) or [line[:width]]


_SPACES = re.compile(r"([ \t\n\r\f\v]+)")
_SPACES_AND_URL_PARTS = re.compile(r"([ \t\n\r\f\v]+|(?<=[/?&])(?=[^ \t\n\r\f\v/?&]))")


class Wrapper(textwrap.TextWrapper):
    """Breaks at ASCII spaces — and in lines holding a URL after ``/ ? &``, so URLs wrap at
    their parts — never at hyphens or no-break spaces: model names, ids and ``<base64 12 kB>``
    stay whole."""

    def __init__(self, width: int, subsequent_indent: str = "") -> None:
        super().__init__(width, subsequent_indent=subsequent_indent, break_on_hyphens=False)

    def wrap(self, text: str) -> list[str]:
        self.wordsep_simple_re = _SPACES_AND_URL_PARTS if "://" in text else _SPACES
        return super().wrap(text)
