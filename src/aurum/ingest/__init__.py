"""From vendor workbook files to canonical curve observations, quarantine and dead letters.

``grid`` is the only module that opens workbook files; ``layouts`` describes each vendor as
data; ``parser`` turns grids into candidate rows; ``rules`` validates them; ``pipeline`` ties it
together and accounts for every price cell.
"""
