"""GitHub-flavoured Markdown for untrusted text: test names, files, reasons, messages.

Everything that came from outside (a JUnit report, a Slack reason, a login) goes
into GitHub inside a code span or a fenced block whose fence is longer than any
backtick run in the text, so nothing in it renders: no ``@org/team`` mention that
notifies, no ``#123`` reference, no image, link, HTML or hidden comment. A line
break would end a code span's paragraph, so inline text is kept on one line.
"""

from __future__ import annotations

import re

BACKTICKS = re.compile(r"`+")
LINE_BREAKS = re.compile(r"[\r\n\u0085\u2028\u2029]+")
# GitHub logins: letters, digits and single hyphens, at most 39 (no "/": never a team).
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")


def _fence_for(text: str, *, shortest: int) -> str:
    longest = max((len(run) for run in BACKTICKS.findall(text)), default=0)
    return "`" * max(shortest, longest + 1)


def code(text: str) -> str:
    """``text`` as an inline code span on one line, inert whatever it contains."""
    flat = LINE_BREAKS.sub(" ", text)
    if not flat.strip():
        return "` `" if not flat else f"`{flat}`"
    fence = _fence_for(flat, shortest=1)
    # CommonMark drops one space at each end when both ends have one: pad a span that
    # starts or ends with a backtick (or a space) so its content is shown exactly.
    pad = " " if flat[0] in "` " or flat[-1] in "` " else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def fenced(text: str, info: str = "") -> str:
    """``text`` as a fenced code block whose fence no line of it can close."""
    fence = _fence_for(text, shortest=3)
    return f"{fence}{info}\n{text}\n{fence}"


def mention(login: str) -> str:
    """``@login`` for a well-formed GitHub login (meant to notify), else the text inert."""
    return f"@{login}" if LOGIN.fullmatch(login) else code(login)
