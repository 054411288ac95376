"""The `az` command lines of docs/deploy.md, as argument lists.

Standard library only: tests/bicep/az_cli_flags.py imports it from a virtualenv
that holds azure-cli and nothing of this project.

Every ```bash block is read as a shell would split it, well enough for the forms
the runbook uses: backslash continuations are joined, heredoc bodies skipped,
comments dropped, `$(...)` substitutions read as commands of their own (and
replaced by one placeholder word where they stand), and a line is cut into simple
commands at `|`, `||`, `&&`, `;`, `&` and parentheses.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
PLACEHOLDER = "__SUBST__"
_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)
_HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
_SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", ";;", "{", "}"}
_KEYWORDS = {"if", "then", "else", "elif", "fi", "for", "do", "done", "while", "until",
             "in", "!", "local", "export", "unset"}  # fmt: skip


def bash_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(text)]


def logical_lines(block: str) -> Iterator[str]:
    """Lines with continuations joined and heredoc bodies left out."""
    lines = block.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].lstrip()
        i += 1
        heredoc = _HEREDOC.search(line)
        if heredoc:
            while i < len(lines) and lines[i].strip() != heredoc.group(1):
                i += 1
            i += 1
            line = line[: heredoc.start()]
        yield line


def _substitutions(line: str) -> tuple[str, list[str]]:
    """The line with each top-level `$(...)` replaced, and the inner texts."""
    out: list[str] = []
    inner: list[str] = []
    i = 0
    quote = ""
    while i < len(line):
        char = line[i]
        if quote == "'":
            quote = "" if char == "'" else quote
            out.append(char)
            i += 1
            continue
        if char == "'" and not quote:
            quote = "'"
        elif char == '"':
            quote = "" if quote == '"' else '"'
        if line.startswith("$(", i):
            depth, j = 1, i + 2
            while j < len(line) and depth:
                depth += {"(": 1, ")": -1}.get(line[j], 0)
                j += 1
            inner.append(line[i + 2 : j - 1])
            out.append(PLACEHOLDER)
            i = j
            continue
        out.append(char)
        i += 1
    return "".join(out), inner


def simple_commands(line: str) -> Iterator[list[str]]:
    flat, inner = _substitutions(line)
    for text in inner:
        yield from simple_commands(text)
    lexer = shlex.shlex(flat, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    command: list[str] = []
    redirect_target = False
    for token in lexer:
        if redirect_target:  # the file of `> file`, `2>/dev/null`, `<<<"$word"`
            redirect_target = False
            continue
        if token[0] in "<>" and set(token) <= set("<>&"):  # not a quoted "<placeholder>"
            if command and command[-1].isdigit():
                command.pop()  # the `2` of `2>`
            redirect_target = True
            continue
        if token in _SEPARATORS:
            if command:
                yield command
            command = []
        else:
            command.append(token)
    if command:
        yield command


def az_commands(text: str) -> list[list[str]]:
    """Every `az ...` invocation in the bash blocks, without the leading `az`."""
    found: list[list[str]] = []
    for block in bash_blocks(text):
        for line in logical_lines(block):
            for command in simple_commands(line):
                words = command
                while words and (words[0] in _KEYWORDS or _ASSIGNMENT.match(words[0])):
                    words = words[1:]
                if words and words[0] == "az":
                    found.append(words[1:])
    return found


def command_path(args: list[str], known: set[str]) -> str | None:
    """The longest leading run of words that names a known command."""
    words: list[str] = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    for end in range(len(words), 0, -1):
        candidate = " ".join(words[:end])
        if candidate in known:
            return candidate
    return None
