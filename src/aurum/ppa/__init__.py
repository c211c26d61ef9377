"""PPA valuation: typed contract terms (:mod:`aurum.ppa.terms`), hourly shaping and settlement
(:mod:`aurum.ppa.engine`, pure), the valuation itself (:mod:`aurum.ppa.valuation`, pure), the
committee's report (:mod:`aurum.ppa.report`) and the service the shells call
(:mod:`aurum.ppa.service`)."""

from aurum.ppa.service import PpaService, Valuation

__all__ = ["PpaService", "Valuation"]
