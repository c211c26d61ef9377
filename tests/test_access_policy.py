"""Entitlement and tenant filtering live in the access policy alone (``aurum.auth.access``).

Any other module that compares a caller's tenant or vendors, passes them to an SQL ``IN``, or
writes a ``tenant_id = ?`` condition is a second site of the policy: this test names it. Row-level
security policies in the store's migrations say the same again on purpose, and are exempt.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "aurum"
POLICY = SRC / "auth" / "access.py"
EXEMPT = (POLICY, SRC / "store" / "migrations")
_FIELDS = {"tenant_id", "vendors"}
_COMPARE = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
_TENANT_SQL = re.compile(r"\btenant_id\s*=\s*[?:%$]")


def _callers_field(node: ast.AST) -> bool:
    """``access.tenant_id``, ``self.access.vendors``, ``principal.vendors`` ..."""
    if not (isinstance(node, ast.Attribute) and node.attr in _FIELDS):
        return False
    owner = node.value
    name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
    return name.endswith("access") or name == "principal"


def second_sites(source: str, where: str) -> list[str]:
    """Places in ``source`` that filter by tenant or entitlement outside the policy."""
    found = []
    for node in ast.walk(ast.parse(source)):
        operands: list[ast.AST] = []
        if isinstance(node, ast.Compare) and any(isinstance(op, _COMPARE) for op in node.ops):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "in_":
            operands = list(node.args)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _TENANT_SQL.search(node.value):
                found.append(f"{where}:{node.lineno}: SQL condition on tenant_id")
            continue
        if any(_callers_field(sub) for op in operands for sub in ast.walk(op)):
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_module_but_the_policy_filters_by_tenant_or_entitlement():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if any(path == e or e in path.parents for e in EXEMPT):
            continue
        found += second_sites(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    assert not found, "filter through aurum.auth.access.Access instead:\n" + "\n".join(found)


def test_the_check_finds_a_planted_second_site():
    planted = {
        "rows = [r for r in rows if r['vendor'] in access.vendors]": 1,
        "if self.access.tenant_id != tenant_id: raise NotFound()": 1,
        "q = q.where(Model.vendor.in_(principal.vendors))": 1,
        "sql = 'SELECT * FROM scenario WHERE tenant_id = ?'": 1,
        "if access.may_read(vendor): keep(row)": 0,  # asking the policy is the point
        "record.tenant_id = access.tenant_id": 0,  # stamping a new row is not filtering
    }
    for source, expected in planted.items():
        assert len(second_sites(source, "planted")) == expected, source
