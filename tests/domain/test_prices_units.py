import pytest

from aurum.domain.prices import parse_bidask
from aurum.domain.units import parse_units


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("55.294   /   55.501", (55.294, 55.501)),
        ("-4.313   /   -4.271", (-4.313, -4.271)),
        ("45.0 / 46.0", (45.0, 46.0)),
        ("1/2", (1.0, 2.0)),
        ("\t7 /8.5 ", (7.0, 8.5)),
    ],
)
def test_bidask_strings(text, pair):
    assert parse_bidask(text) == pair


@pytest.mark.parametrize(
    "text", ["n/a", "1 / ", "1,000 / 2", "1e3 / 2", "nan / 1", "1 / 2 / 3", ""]
)
def test_not_bidask(text):
    assert parse_bidask(text) is None


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("CAD - MWh", ("CAD", "MWh")),
        ("CAD/MWh", ("CAD", "MWh")),
        ("$/MWh", ("USD", "MWh")),
        ("€/MWh", ("EUR", "MWh")),
        ("£ / therm", ("GBP", "therm")),
        ("GBp/therm", ("GBp", "therm")),
        ("usd per MMBtu", ("USD", "MMBtu")),
    ],
)
def test_units(text, units):
    assert parse_units(text) == units


@pytest.mark.parametrize("text", [None, "", "MWh", "dollars"])
def test_unrecognised_units(text):
    assert parse_units(text) is None
