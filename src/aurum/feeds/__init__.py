"""Public feeds beside the curves: ISO prices (and, later, EIA, FRED, NOAA and ECB series).

``parsers`` holds pure functions from a payload's bytes to canonical rows (``lmp.LMP_SCHEMA``),
one module per source, each following that source's own time convention; ``classify`` names
what a payload is when it is not data (an HTTP 429 page, a document listing, an empty answer).
"""
