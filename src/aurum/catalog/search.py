"""Finding datasets by words: in the name, the doc, the column names and the column docs.

A person looking for "where is the mid price" types ``mid``, not a table name; the contracts
already describe every column, so the search reads them and nothing else. Every word must match
somewhere (case-insensitive, anywhere in a text), and the answer names the columns that any word
matched, so the caller sees *why* a dataset came back.

>>> from aurum.datasets.curves import CURVE_OBSERVATION, DEAD_LETTER
>>> matched_columns(CURVE_OBSERVATION, words("MID"))
('sheet_name', 'price_type', 'value', 'mid')
>>> matched_columns(DEAD_LETTER, words("mid")) is None
True
>>> matched_columns(DEAD_LETTER, words("dead letter"))  # the words are in the name/doc only
()
"""

from __future__ import annotations

from aurum.datasets import Dataset

__all__ = ["matched_columns", "words"]


def words(query: str | None) -> tuple[str, ...]:
    """The distinct words of ``query``, case-folded, in order (none: everything matches).

    >>> words("  Mid  mid\\tBID "), words(None)
    (('mid', 'bid'), ())
    """
    return tuple(dict.fromkeys((query or "").casefold().split()))


def matched_columns(dataset: Dataset, wanted: tuple[str, ...]) -> tuple[str, ...] | None:
    """``None`` when a word of ``wanted`` is nowhere in ``dataset`` (name, doc, column names and
    docs); else the columns, in contract order, whose name or doc holds at least one word."""
    own = f"{dataset.name}\n{dataset.doc}".casefold()
    columns = {c.name: f"{c.name}\n{c.doc}".casefold() for c in dataset.columns}
    for word in wanted:
        if word not in own and not any(word in text for text in columns.values()):
            return None
    return tuple(c for c, text in columns.items() if any(word in text for word in wanted))
