"""The certificate and balancing legs, and the side valued: what each adds to the cashflow."""

from __future__ import annotations

from datetime import date

import numpy as np

from aurum.ppa.engine import Book, term_months
from aurum.ppa.terms import Discount, validate_terms
from aurum.ppa.valuation import Inputs, valuate

TERMS = {
    "hub": {"vendor": "PW", "iso": "PJM"}, "volume": {"type": "baseload", "mw": 10},
    "strike": {"type": "fixed", "price": 45}, "term": {"start": "2027-01", "end": "2027-12"},
    "certificates": {"curve": {"vendor": "RP", "product": "PJM Tri Qualified REC"},
                     "share": 0.8},
    "balancing_cost": 1.5,
}  # fmt: skip


def value(perspective: str = "generator", **changes):
    terms = validate_terms({**TERMS, **changes})
    months = term_months(terms)
    book = Book(terms, "PJM", months, ("ON_PEAK", "OFF_PEAK"))
    forwards = np.tile([[55.0, 35.0]], (len(months), 1))
    certificates = np.linspace(20.0, 31.0, len(months))
    return book, certificates, valuate(Inputs(
        book, forwards, "USD", date(2026, 12, 1), Discount(rate=0.05),
        perspective=perspective, certificates=certificates,
    ))  # fmt: skip


def test_the_certificate_leg_is_share_times_energy_times_the_curve_to_the_offtaker():
    book, certificates, result = value()
    energy = np.array(result.monthly["energy_mwh"])
    hours = book.hours_per_month()
    assert np.allclose(energy, 10 * hours)  # baseload 10 MW
    expected = -0.8 * energy * certificates  # the generator delivers them
    assert np.allclose(result.monthly["certificates"], expected, rtol=1e-12)
    assert np.allclose(result.monthly["balancing"], -1.5 * energy, rtol=1e-12)
    cash = np.array(result.monthly["settlement"]) + expected - 1.5 * energy
    assert np.allclose(result.monthly["cashflow"], cash, rtol=1e-12)
    factors = np.array(result.monthly["discount_factor"])
    legs = result.summary["legs"]
    assert np.isclose(legs["certificates"]["pv"], (expected * factors).sum(), rtol=1e-12)
    assert np.isclose(result.summary["npv"], (cash * factors).sum(), rtol=1e-12)


def test_the_offtaker_receives_the_certificates_and_bears_no_balancing():
    _, _, generator = value()
    _, _, offtaker = value("offtaker")
    assert np.allclose(offtaker.monthly["certificates"],
                       -np.array(generator.monthly["certificates"]))  # fmt: skip
    assert np.allclose(offtaker.monthly["settlement"], -np.array(generator.monthly["settlement"]))
    assert not any(offtaker.monthly["balancing"])
    assert offtaker.summary["legs"]["certificates"]["pv"] > 0


def test_without_a_certificate_leg_it_is_zero():
    _, _, result = value(certificates=None)
    assert not any(result.monthly["certificates"])
