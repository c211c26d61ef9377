"""Sign-in with authentication on: the pages load without a credential (they hold no data), every
data call carries the pasted key, a tenant sees only its entitled vendors, a bad key is refused
with a reason, and signing out forgets the key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aurum import tenancy
from aurum.auth.access import PLATFORM
from aurum.store import Store

from .conftest import Watched, get_json, serving

DAY = date(2025, 9, 15)


@pytest.fixture(scope="module")
def secured(build_lake, synthetic_days) -> Iterator[tuple[str, dict[str, str]]]:
    """A server with authentication on; tenants acme (PW) and bolt (RP), an analyst key each."""
    settings = build_lake("ui-secured", synthetic_days("PW", DAY, 2) + synthetic_days("RP", DAY, 1))
    tokens = {}
    with Store.connect(settings) as store:
        for tenant, vendor in (("acme", "PW"), ("bolt", "RP")):
            tenancy.create_tenant(store, PLATFORM, tenant, tenant.title(), [vendor])
            issued = tenancy.issue_key(
                store, PLATFORM, tenant_id=tenant, role="aurum-analyst", name="dashboard"
            )
            tokens[tenant] = issued.token
    with serving(Path(settings.home), env={"AURUM_AUTH__MODE": "on"}) as base:
        yield base, tokens


def _sign_in(watched: Watched, base: str, token: str, accepted: bool = True) -> Any:
    page = watched.goto(base + "/ui/curves")
    assert page.url.startswith(base + "/ui/sign-in?next=")
    page.fill("#credential", token)
    if not accepted:  # the page stays: nothing new is drawn
        page.press("#credential", "Enter")
        return page
    return watched.after(lambda: page.press("#credential", "Enter"))


def test_a_tenant_signs_in_with_a_key_and_sees_only_its_vendors(secured, watched: Watched):
    base, tokens = secured
    watched.allowed.append("status of 401")  # /v1/me before signing in
    page = _sign_in(watched, base, tokens["acme"])
    assert page.url.startswith(base + "/ui/curves")
    page.wait_for_selector("#curve-chart[data-drawn]")
    assert "acme" in page.inner_text("#who") and "PW" in page.inner_text("#who")
    vendors = set(page.locator("#curve-list tbody tr td:first-child").all_text_contents())
    assert vendors == {"PW"}
    # every data call carried the key; the static files needed none
    data_calls = [r for r in watched.requests if "/v1/" in r]
    assert data_calls
    headers = page.evaluate("() => sessionStorage.getItem('aurum.credential')")
    assert headers == tokens["acme"]
    # another tenant's curve is not there for acme
    rp = get_json(f"{base}/v1/metadata/curves?limit=1", tokens["bolt"])["data"][0]
    watched.allowed.append("status of 404")  # not entitled: the curve does not exist for acme
    watched.goto(f"{base}/ui/curves?curve={rp['curve_key']}")
    text = page.inner_text("#curve-view")
    assert "No such curve here." in text or "not allowed" in text, text


def test_every_data_request_carries_the_credential(secured, browser: Any):
    base, tokens = secured
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    seen: list[tuple[str, str | None]] = []
    page.on("request", lambda r: seen.append((r.url, r.headers.get("authorization"))))
    try:
        page.goto(base + "/ui/sign-in")
        page.fill("#credential", tokens["bolt"])
        page.click("#sign-in-button")
        page.wait_for_selector("#curve-chart[data-drawn]")
    finally:
        context.close()
    api = [(url, auth) for url, auth in seen if "/v1/" in url]
    assert len(api) >= 4
    assert all(auth == f"Bearer {tokens['bolt']}" for _, auth in api), api
    assets = [(url, auth) for url, auth in seen if "/ui/assets/" in url]
    assert assets and all(auth is None for _, auth in assets)


def test_a_wrong_key_is_refused_with_a_reason(secured, watched: Watched):
    base, _ = secured
    watched.allowed.append("status of 401")
    page = _sign_in(watched, base, "aurum_not_a_real_key", accepted=False)
    page.wait_for_selector("#sign-in-status .notice.error")
    assert "does not accept this credential" in page.inner_text("#sign-in-status")
    assert page.evaluate("() => sessionStorage.getItem('aurum.credential')") is None


def test_signing_out_forgets_the_key(secured, watched: Watched):
    base, tokens = secured
    watched.allowed.append("status of 401")
    page = _sign_in(watched, base, tokens["acme"])
    watched.click("#sign-out")
    assert page.url.startswith(base + "/ui/sign-in")
    assert page.evaluate("() => sessionStorage.getItem('aurum.credential')") is None
    watched.goto(base + "/ui/changes")
    assert page.url.startswith(base + "/ui/sign-in?next=%2Fui%2Fchanges")


def test_an_analyst_sees_the_operator_views_need_a_role(secured, watched: Watched):
    base, tokens = secured
    watched.allowed += ["status of 401", "status of 403"]
    page = _sign_in(watched, base, tokens["acme"])
    watched.goto(base + "/ui/ingest")
    for section in ("#files", "#runs", "#gates", "#quarantine", "#dead-letters"):
        text = page.inner_text(section)
        assert "not allowed" in text and "aurum-ops. Ask an administrator" in text, text
