"""The search index's text and the patterns a typed term becomes (``list --search``).

Nearly every buyer e-mail is Amazon's relay address 'xxxx@marketplace.amazon.de' (.com,
.co.uk...): the same 20 characters '@marketplace.amazon.' in every order's text and its
trigrams. The index keeps them as one character, ``MARK`` (migration 14, issue 15: ~45 B
less per order), and a term is turned into the patterns that find in the shortened text
exactly the orders whose full text holds the term: the term itself, and for each way it can
overlap the relay domain the same with the overlapping part as ``MARK``. So a full address,
'marketplace.amazon.de', '@marketplace' or 'amazon' find what they found before.
"""

from __future__ import annotations

from amzorders.domain.textfold import fold_text

RELAY_DOMAIN = "@marketplace.amazon."
# A control character: no folded text has one of its own once indexed_text has made any
# into a space, so a MARK in the index always stands for RELAY_DOMAIN.
MARK = "\x1f"


def indexed_text(text: str) -> str:
    """The folded, shortened text the index keeps for an order's searchable parts."""
    return fold_text(text).replace(MARK, " ").replace(RELAY_DOMAIN, MARK)


def search_patterns(term: str) -> list[str]:
    """The substrings (``term`` folded) any of which an index text holds exactly when the
    full text holds ``term``. ``term`` alone unless it overlaps RELAY_DOMAIN."""
    term = term.replace(MARK, " ")
    domain, size = RELAY_DOMAIN, len(RELAY_DOMAIN)
    if term in domain:  # inside the domain (or all of it): every relay address, and the term elsewhere
        return [term, MARK]
    patterns = [term.replace(domain, MARK)]  # the whole domain inside the term (or no overlap)
    for j in range(1, size):  # the term ends with the domain's first j characters
        if term.endswith(domain[:j]):
            patterns.append(term[:-j] + MARK)
    for i in range(1, size):  # the term starts with the domain's last characters
        if term.startswith(domain[i:]):
            patterns.append(MARK + term[size - i:])
    return list(dict.fromkeys(patterns))
