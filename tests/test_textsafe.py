"""The one neutraliser (amzorders.textsafe) on the hostile corpus, and JSON's exact text."""

from __future__ import annotations

import json
import re

import pytest

from amzorders.textsafe import UNSAFE, is_safe, json_text, safe_text
from hostile_corpus import HOSTILE

ANY_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff\ufff9-\ufffb]")


@pytest.mark.parametrize("text", HOSTILE)
def test_safe_text_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    result = safe_text(text)
    assert ANY_UNSAFE.search(result) is None
    assert is_safe(result)
    # Idempotent: neutralised text stays as it is.
    assert safe_text(result) == result


@pytest.mark.parametrize("text", HOSTILE)
def test_keep_newlines_keeps_only_newlines(text: str) -> None:
    result = safe_text(text, keep_newlines=True)
    assert ANY_UNSAFE.search(result.replace("\n", "")) is None
    assert result.count("\n") == text.replace("\r\n", "\n").count("\n")


def test_unsafe_characters_are_spelled_out_visibly() -> None:
    assert safe_text("a\x1b[31mb") == "a\\x1b[31mb"
    assert safe_text("x\u202ey") == "x\\u202ey"
    assert safe_text("c1\x9b") == "c1\\x9b"
    assert safe_text("tab\there") == "tab here"
    assert safe_text(None) == ""
    assert safe_text(42) == "42"


def test_ordinary_text_is_unchanged() -> None:
    for text in ("Müller & Söhne GmbH", "日本語の名前", "[bold]not markup[/]", "=SUM(1)"):
        assert safe_text(text) == text


@pytest.mark.parametrize("text", HOSTILE)
def test_json_keeps_the_exact_text_as_escapes(text: str) -> None:
    document = json_text(json.dumps({"name": text}, indent=2, ensure_ascii=False))
    assert UNSAFE.search(document.replace("\n", "")) is None
    assert json.loads(document) == {"name": text}
