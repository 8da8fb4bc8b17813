"""Search folding: 'López', 'LOPEZ' and 'lopez' are one word to a person searching.

Unicode casefold (so 'ß' matches 'ss') after NFKD with the combining marks removed (so
'é' matches 'e'), plus the Latin letters that carry their mark inside the letter and so
do not decompose ('ø', 'ł', 'đ'...). The search index stores folded text; the typed
term is folded the same way.
"""

from __future__ import annotations

import unicodedata

_UNDECOMPOSABLE = str.maketrans(
    {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ħ": "h", "ı": "i", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d"}
)


def fold_text(value: str) -> str:
    if value.isascii():
        # Nothing to decompose or map: ASCII casefold is lower() (the import's search rows).
        return value.lower()
    decomposed = unicodedata.normalize("NFKD", value.translate(_UNDECOMPOSABLE))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
