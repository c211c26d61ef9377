"""From vendor workbook files to canonical curve observations, quarantine and dead letters.

``grid`` is the only module that opens workbook files; ``layouts`` describes each vendor as data;
``parser`` turns grids into canonical frames; ``rules`` validates them; ``pipeline`` ties it together.
"""
