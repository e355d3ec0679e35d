"""Separate what a user asks from what they pasted.

Employees write an instruction and paste the material it applies to: an e-mail, a
report, code, a quoted thread, a chat history. The use case is decided by the
instruction; the pasted material only says *that* something was pasted and *what kind*
of thing it is (code, e-mail, quote, list, chat history, plain text). Nothing here
depends on the pasted text's length beyond the first paragraph boundary, so appending
more of it cannot change the instruction. Only the prompt's head (`HEAD_CHARS`) and tail
(`TAIL_CHARS`) are read: the instruction sits at one end or the other, so the cost of a
decision does not grow with what was pasted in the middle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Longest instruction kept (characters): longer first paragraphs are read by their head.
INSTRUCTION_CHARS = 400
#: A first paragraph longer than this is treated as pasted text when a short paragraph ends the prompt.
LONG_PARAGRAPH = 400
#: A closing paragraph at most this long may be the instruction ("… summarise the above").
SHORT_PARAGRAPH = 300
#: Characters read at the start of a prompt: the instruction and the opening of the paste.
HEAD_CHARS = 1_500
#: Characters read at the end of a prompt: an instruction written after the paste is shorter.
TAIL_CHARS = 500
#: Text after a colon is pasted when it is at least this long.
MIN_PASTE_AFTER_COLON = 40

_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_TAGGED = re.compile(r"<([A-Za-z_][\w-]{0,40})>.*?(?:</\1>|\Z)", re.S)
_CLOSING_TAG = re.compile(r"</([A-Za-z_][\w-]{0,40})>")
_QUOTED = re.compile(r"^[ \t]*>.*$", re.M)
_BLANK = re.compile(r"\n[ \t]*\n+")
_HEADER = re.compile(
    r"^(from|to|cc|subject|sent|date|de|à|a|objet|envoyé|envoye|le)\s?:", re.I | re.M
)
_GREETING = re.compile(
    r"^(bonjour|bonsoir|madame|monsieur|cher|chère|chers|salut|hello|hi|dear|hey)\b", re.I
)
_SIGN_OFF = re.compile(r"\b(cordialement|bien à vous|regards|best|sincerely|merci d'avance)\b", re.I)
_LIST_LINE = re.compile(r"^\s*([-*•]|\d+[.)])\s+", re.M)
_COLON = re.compile(r"[:：]")
#: What makes pasted text look like code: a keyword, a line ending in `;` or `{`, a line
#: opening with SQL, a Python traceback. Separate patterns, since Python's `re` tries every
#: branch of one alternation at every position: together they took twice as long.
_CODE_HINTS = (
    re.compile(r"\b(?:def|class|import) ", re.I),
    re.compile(r"[;{][^\S\n]*$", re.M),
    re.compile(r"^[^\S\n]*(?:select|from|where) ", re.I | re.M),
    re.compile(r"traceback ", re.I),
)


@dataclass(frozen=True, slots=True)
class PromptParts:
    """The instruction to score, and the kinds of pasted content around it."""

    instruction: str
    pasted_kinds: frozenset[str]

    @property
    def has_paste(self) -> bool:
        return bool(self.pasted_kinds)


def _kind_of(text: str) -> str:
    """The kind of a pasted paragraph: email, list, code or text."""
    if _HEADER.search(text) or (_GREETING.match(text.lstrip()) and len(text) > 80):
        return "email"
    if _SIGN_OFF.search(text[-200:]) and len(text) > 80:
        return "email"
    if len(_LIST_LINE.findall(text)) >= 2:
        return "list"
    if looks_like_code(text):
        return "code"
    return "text"


def looks_like_code(text: str) -> bool:
    """Whether pasted text carries one of the code hints."""
    return any(hint.search(text) for hint in _CODE_HINTS)


def _split_colon(paragraph: str) -> tuple[str, str]:
    """(instruction, pasted) when a colon introduces the material; else (paragraph, "")."""
    match = _COLON.search(paragraph, 0, INSTRUCTION_CHARS)
    if match is None:
        return paragraph, ""
    head, tail = paragraph[: match.end()], paragraph[match.end() :]
    if len(head.split()) < 3 or len(tail.strip()) < MIN_PASTE_AFTER_COLON:
        return paragraph, ""
    return head, tail


def split_prompt(text: str) -> PromptParts:
    """The instruction of a prompt and the kinds of material pasted with it."""
    kinds: set[str] = set()
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", " ")
    segments = [text]
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        segments = [text[:HEAD_CHARS], _tail_end(text[-TAIL_CHARS:], kinds)]

    def cut(pattern: re.Pattern[str], kind: str, source: str) -> str:
        if pattern.search(source) is None:
            return source
        kinds.add(kind)
        return pattern.sub("\n\n", source)

    for pattern, kind in ((_FENCE, "code"), (_TAGGED, "history"), (_QUOTED, "quote")):
        segments = [cut(pattern, kind, segment) for segment in segments]
    text = "\n\n".join(segments)
    paragraphs = [p.strip() for p in _BLANK.split(text) if p.strip()]
    if not paragraphs:
        return PromptParts("", frozenset(kinds))
    first = 1 if len(paragraphs) > 1 and len(paragraphs[0]) <= 25 and _GREETING.match(paragraphs[0]) else 0
    instruction, pasted = _choose(paragraphs[first], paragraphs[first + 1 :])
    instruction, inline = _split_colon(instruction)
    kinds.update(_kind_of(piece) for piece in (inline, *pasted) if piece.strip())
    return PromptParts(instruction[:INSTRUCTION_CHARS].strip(), frozenset(kinds))


def _tail_end(tail: str, kinds: set[str]) -> str:
    """The tail of a long prompt without the end of a code fence or tagged block that
    opened before it (read alone, its closing mark would open a block to the end)."""
    if tail.count("```") % 2:
        tail = tail.split("```", 1)[1]
        kinds.add("code")
    for closing in _CLOSING_TAG.finditer(tail):
        if f"<{closing.group(1)}>" not in tail[: closing.start()]:
            kinds.add("history")
            return tail[closing.end() :]
    return tail


def _choose(lead: str, rest: list[str]) -> tuple[str, list[str]]:
    """(instruction, pasted pieces): the leading paragraph, or its first line when it is
    long, or a short closing line when the prompt opens with the pasted material."""
    if len(lead) <= LONG_PARAGRAPH:
        return lead, rest
    first_line, _, more = lead.partition("\n")
    if more.strip() and len(first_line) <= SHORT_PARAGRAPH:
        return first_line, [more, *rest]
    body, _, last_line = (rest[-1] if rest else lead).rpartition("\n")
    if len(last_line) <= SHORT_PARAGRAPH and (rest or body):
        pasted = [lead, *rest[:-1], body] if rest else [body]
        return last_line, pasted
    return lead, rest
