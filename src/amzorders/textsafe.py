"""One place that makes untrusted text safe for a terminal.

Text from Amazon (buyer names, titles, error messages), from CSV files and from the
store is data. On its way to a terminal it must not carry anything the terminal would
act on: C0 controls (ESC starts every escape sequence; BEL, BS, CR rewrite what is
shown), DEL, C1 controls (U+0080-U+009F: U+009B is a one-character CSI, U+009D an OSC
that can plant hyperlinks), and Unicode bidirectional overrides, embeddings, isolates and
marks, which reorder what the operator reads (Trojan Source, CVE-2021-42574).

``safe_text`` replaces each such character by a visible ``\\x1b`` / ``\\u202e`` spelling
(so an operator sees that something was there and what), keeping only ``\\n`` when asked.
It is a pure function without dependencies, importable from any layer.

``json_text`` is for JSON output: the exact text stays (JSON is data for programs), but
every such character is written as a JSON ``\\uXXXX`` escape, so the JSON document
itself is safe to print on a terminal and decodes to the original string.
"""

from __future__ import annotations

import re

__all__ = ["UNSAFE", "is_safe", "json_text", "safe_text"]

# C0, DEL, C1; bidi: ALM, LRM, RLM, the embeddings
# and overrides LRE RLE PDF LRO RLO, the isolates LRI RLI FSI PDI; line/paragraph
# separators (U+2028/9) which some terminals treat as newlines; and the BOM/ZWNBSP and
# interlinear annotation characters, which hide text.
_BIDI_AND_HIDDEN = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff\ufff9-\ufffb"
UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_AND_HIDDEN}]")
_UNSAFE_KEEP_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI_AND_HIDDEN}]")


def _spell(char: str) -> str:
    code = ord(char)
    if code == 0x09:
        return " "  # a tab is harmless in meaning but breaks table layout
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def safe_text(value: object, *, keep_newlines: bool = False) -> str:
    """``value`` as text a terminal shows and never acts on. ``None`` becomes ''.

    With ``keep_newlines``, ``\\n`` stays a line break (addresses, gift messages);
    ``\\r\\n`` counts as one. Everything else unsafe is spelled out visibly.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if keep_newlines:
        text = text.replace("\r\n", "\n")
        return _UNSAFE_KEEP_NEWLINE.sub(lambda m: _spell(m.group()), text)
    return UNSAFE.sub(lambda m: _spell(m.group()), text)


def is_safe(text: str, *, keep_newlines: bool = False) -> bool:
    pattern = _UNSAFE_KEEP_NEWLINE if keep_newlines else UNSAFE
    return pattern.search(text) is None


def json_text(document: str) -> str:
    """A JSON document with every terminal-unsafe character written as ``\\uXXXX``.

    Only valid for text produced by ``json.dumps``: outside strings it is ASCII with
    newlines for indentation (kept), and inside strings ``json.dumps`` already escapes
    C0 controls, so each unsafe character found is inside a string, where ``\\uXXXX``
    means the same.
    """
    return _UNSAFE_KEEP_NEWLINE.sub(lambda m: f"\\u{ord(m.group()):04x}", document)
