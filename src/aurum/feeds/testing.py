"""Large feed payloads made from small recorded ones, for the scale tests and ``bench/feeds.py``.

``scaled`` repeats a CSV's body under other node names (``NAME#1``, ``NAME#2`` …), so every row
stays distinct and every copy parses to the recorded rows' values; ``smd_days`` writes ISO-NE
SMD hourly rows for consecutive days (its node is not in the file, so it grows in time), with
the hour labels each day's length in Eastern time asks for.
"""

from __future__ import annotations

from datetime import date, timedelta

from aurum.feeds.lmp import local_hours
from aurum.feeds.parsers import isone

__all__ = ["scaled", "smd_days"]


def scaled(payload: bytes, *, lines: int, node_column: int, head: int = 1) -> bytes:
    """The first ``head`` lines of ``payload`` (preamble and header), then ``lines`` lines of
    its body, copy ``k`` of the body naming its nodes ``NAME#k`` (inside quotes if quoted).

    >>> scaled(b"t,node,p\\n1,A,2\\n", lines=3, node_column=1).decode().splitlines()
    ['t,node,p', '1,A#0,2', '1,A#1,2', '1,A#2,2']
    """
    text = payload.decode("utf-8-sig").splitlines()
    top, body = text[:head], [line for line in text[head:] if line.strip()]
    out = list(top)
    copy = 0
    while len(out) - head < lines:
        for line in body:
            cells = line.split(",")
            if len(cells) > node_column:
                cell = cells[node_column]
                quoted = cell.endswith('"')
                cells[node_column] = f"{cell.rstrip(chr(34))}#{copy}" + ('"' if quoted else "")
            out.append(",".join(cells))
        copy += 1
    return ("\n".join(out[: head + lines]) + "\n").encode()


def smd_days(payload: bytes, *, first: date, days: int) -> bytes:
    """An ISO-NE SMD hourly CSV (``payload``'s header) for ``days`` days from ``first``: hour
    ending ``HH`` of every day has the values of the recorded row ``HH`` of the first recorded
    day with 24 hours (``02X`` those of ``02``)."""
    text = payload.decode("utf-8-sig").splitlines()
    header, body = text[0], [line.split(",") for line in text[1:] if line.strip()]
    counts: dict[str, int] = {}
    for cells in body:
        counts[cells[0]] = counts.get(cells[0], 0) + 1
    template_day = next(day for day, count in counts.items() if count == 24)
    values = {cells[1]: cells[2:] for cells in body if cells[0] == template_day}
    out = [header]
    for offset in range(days):
        day = first + timedelta(days=offset)
        for label in isone.labels(len(local_hours(day, isone.ZONE))):
            out.append(",".join([day.isoformat(), label, *values[label.rstrip("X")]]))
    return ("\n".join(out) + "\n").encode()
