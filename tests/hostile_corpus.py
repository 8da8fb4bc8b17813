"""Strings a terminal would act on, as Amazon, a CSV file or an error message could carry them.

Each entry is ordinary text around something a terminal interprets: escape sequences
(CSI, OSC hyperlinks and titles, DCS, APC), bare C0 controls, C1 controls (U+009B is a
one-character CSI), bidi overrides and isolates (Trojan Source), rich markup and emoji
codes, and CSV formula prefixes.
"""

from __future__ import annotations

HOSTILE = (
    "Red\x1b[31m alert\x1b[0m",
    "Clear\x1b[2J\x1b[H screen",
    "Link \x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "Title \x1b]0;pwned\x07 set",
    "DCS \x1bP+q544e\x1b\\ query",
    "APC \x1b_payload\x1b\\ end",
    "Cursor \x1b[10A\x1b[2K up",
    "Bell \x07 ring",
    "Back\x08\x08\x08space",
    "Carriage\rreturn overwrite",
    "Vertical\x0btab\x0cfeed",
    "NUL\x00byte",
    "DEL\x7fchar",
    "C1 CSI \x9b31m red",
    "C1 OSC \x9d0;title\x9c",
    "C1 NEL \x85 next",
    "RLO \u202eesrever\u202c text",
    "LRO \u202dforced\u202c",
    "RLE \u202bemb\u202c LRE \u202aemb\u202c",
    "Isolates \u2066LRI\u2069 \u2067RLI\u2069 \u2068FSI\u2069",
    "Marks \u200e\u200f\u061c",
    "Line\u2028sep\u2029para",
    "BOM\ufeffhidden",
    "Annot\ufff9a\ufffab\ufffb",
    "[bold red]markup[/] [link=https://evil.example/]x[/link]",
    "Closing [/] tag",
    "Words like [white] and [/white] stay",
    ":cake: :smile: emoji codes",
    "=HYPERLINK(\"https://evil.example\",\"x\")",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "Tab\there",
    "Multi\nline\nname",
    "Müller & Söhne GmbH",  # ordinary non-ASCII must survive unchanged
    "日本語の名前",
    "\x1b[?1049h alt screen \x1b[?25l",
    "8-bit \x1b[38;2;255;0;0m truecolor",
)
