"""What the user asks, separated from what they pasted."""

from __future__ import annotations

import pytest

from policies.prompt_parts import looks_like_code, split_prompt

LONG = "Le projet avance conformément au planning validé en comité, sans dérive budgétaire notable. " * 8


def test_text_after_a_blank_line_is_pasted():
    parts = split_prompt("Résume ce texte.\n\n" + LONG)
    assert (parts.instruction, parts.pasted_kinds) == ("Résume ce texte.", frozenset({"text"}))


def test_text_after_a_colon_is_pasted():
    parts = split_prompt("Translate this into German: " + LONG)
    assert parts.instruction == "Translate this into German:"


def test_a_short_colon_phrase_stays_the_instruction():
    assert split_prompt("Question: what is a works council?").instruction == "Question: what is a works council?"


def test_code_fences_quotes_emails_and_chat_histories_are_recognised():
    code = split_prompt("Fix this:\n\n```python\nprint(1/0)\n```")
    quote = split_prompt("Reply to this.\n\n> You missed the deadline.\n> Again.")
    mail = split_prompt("Traduis ce mail.\n\nDe : Anne\nObjet : réunion\n\nBonjour, la réunion est décalée.")
    history = split_prompt("Give this chat a title.\n<chat_history>\nUSER: hi\n</chat_history>")
    assert ("code" in code.pasted_kinds, code.instruction) == (True, "Fix this:")
    assert ("quote" in quote.pasted_kinds, quote.instruction) == (True, "Reply to this.")
    assert ("email" in mail.pasted_kinds, mail.instruction) == (True, "Traduis ce mail.")
    assert ("history" in history.pasted_kinds, history.instruction) == (True, "Give this chat a title.")


def test_a_closing_instruction_is_read_when_the_prompt_opens_with_pasted_text():
    assert split_prompt(LONG + "\n\nSummarise the above.").instruction == "Summarise the above."


def test_a_greeting_line_is_skipped():
    assert split_prompt("Bonjour,\n\nPeux-tu traduire ceci en anglais ?\n\n" + LONG).instruction == (
        "Peux-tu traduire ceci en anglais ?"
    )


def test_odd_characters_do_not_break_the_split():
    parts = split_prompt("Traduis\x00 ce texte\r\n\r\n" + "\ufffd" * 50)
    assert parts.instruction == "Traduis  ce texte" and parts.has_paste


def test_the_middle_of_a_long_paste_is_not_read_but_both_ends_are():
    middle_a = "Ligne de données comptables, sans rapport avec la demande. " * 300
    middle_b = "```python\nprint('x')\n```\n> quoted\n" * 300
    for middle in (middle_a, middle_b):
        head = split_prompt("Résume ce rapport en trois points.\n\n" + LONG + middle + LONG)
        tail = split_prompt(LONG + "\n\n" + middle + LONG + "\n\nCan you summarise the text above in three bullet points?")
        assert head.instruction == "Résume ce rapport en trois points."
        assert tail.instruction == "Can you summarise the text above in three bullet points?"
    unread = split_prompt("Résume ce rapport en trois points.\n\n" + LONG * 3 + "```python\nprint('x')\n```\n" + LONG * 3)
    assert unread.pasted_kinds == frozenset({"text"})  # the fence lies beyond the head, before the tail


@pytest.mark.parametrize("pasted", [
    "def total(rows):\n    return sum(rows)",
    "CLASS Invoice:\n    pass",
    "import pandas as pd",
    "int main() {\n  return 0;\n}",
    "let total = 0;   \nconsole.log(total)",
    "  \n  SELECT name\n  FROM staff WHERE id = 3",
    "Traceback (most recent call last):\n  File \"x.py\"",
])
def test_pasted_code_is_recognised_by_any_one_hint(pasted: str):
    assert looks_like_code(pasted)
    assert split_prompt("Explique-moi ce que fait ce code :\n\n" + pasted).pasted_kinds == frozenset({"code"})


@pytest.mark.parametrize("pasted", [
    "We will define the timetable; key dates follow",
    "Le comité s'est réuni ; il a choisi trois fournisseurs",
    "Please select from the options where possible",
    "undefined behaviour and subclasses",
])
def test_prose_with_code_words_inside_is_not_code(pasted: str):
    assert not looks_like_code(pasted)
