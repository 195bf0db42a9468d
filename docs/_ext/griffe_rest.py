"""A griffe extension that makes the package's reST-flavoured docstrings read as Markdown.

The docstrings are written for ``help()`` and an editor's hover first: they use
Sphinx roles (``:class:`~reflow_actors.Retry```), double-backtick literals and
``::`` before an indented literal block. mkdocstrings renders docstrings as
Markdown, so before they are parsed this extension

* turns a role into a code span of its target (``~`` keeps the last part),
* turns a paragraph's trailing ``::`` into ``:`` (or drops a lone ``::``), and
* fences the indented block that follows it (``python`` when it looks like
  Python code, ``text`` for diagrams and tables).

Double-backtick literals are already code spans in Markdown and are left alone.
It is loaded by ``mkdocs.yml`` (``extensions: [docs/_ext/griffe_rest.py]``) and
changes nothing in the package itself.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const):`([^`]+)`")
_DIAGRAM = re.compile(r"[─│├└►▲◄┬┴┼]")
_PYTHON = re.compile(
    r"^(from |import |def |class |async |await |with |for |if |return |@|>>>|"
    r"[A-Za-z_][\w.\[\]\"']*\s*(=|\())"
)


def _role(match: re.Match[str]) -> str:
    target = match.group(1).strip()
    titled = re.fullmatch(r"(.*?)\s*<(.+)>", target)
    if titled:
        return f"`{titled.group(1)}`"
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def _fence_literal_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.rstrip()
        if not stripped.endswith("::") or stripped.strip().startswith(">>>"):
            out.append(line)
            index += 1
            continue
        intro = stripped[:-2].rstrip()
        if intro:
            out.append(intro + ":")
        # Find the indented block after one or more blank lines.
        cursor = index + 1
        while cursor < len(lines) and not lines[cursor].strip():
            cursor += 1
        base = len(line) - len(line.lstrip())
        block: list[str] = []
        while cursor < len(lines):
            candidate = lines[cursor]
            if candidate.strip() and len(candidate) - len(candidate.lstrip()) <= base:
                break
            block.append(candidate)
            cursor += 1
        while block and not block[-1].strip():
            block.pop()
        if not block:
            index += 1
            continue
        indent = min(len(b) - len(b.lstrip()) for b in block if b.strip())
        body = [b[indent:] if b.strip() else "" for b in block]
        looks_like_python = any(_PYTHON.match(b) for b in body) and not any(
            _DIAGRAM.search(b) for b in body
        )
        language = "python" if looks_like_python else "text"
        prefix = " " * base
        out.append("")
        out.append(f"{prefix}```{language}")
        out.extend(f"{prefix}{b}" if b else "" for b in body)
        out.append(f"{prefix}```")
        out.append("")
        index = cursor
    return "\n".join(out)


def convert(text: str) -> str:
    """The Markdown reading of one docstring."""
    return _fence_literal_blocks(_ROLE.sub(_role, text))


class RestDocstrings(griffe.Extension):
    """Rewrite every docstring before mkdocstrings parses it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Convert the docstring of each object as it is created."""
        del kwargs
        docstring = obj.docstring
        if docstring is not None:
            docstring.value = convert(docstring.value)
