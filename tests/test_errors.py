"""The error tree: drawn once in ``aurum.errors``, each class with its HTTP status, used as is."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import aurum
from aurum import errors
from aurum.api import problems
from aurum.errors import AurumError


def every_error_class() -> list[type[AurumError]]:
    for module in pkgutil.walk_packages(aurum.__path__, "aurum."):
        importlib.import_module(module.name)
    found, pending = [], [AurumError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_class_is_in_the_drawn_tree_with_its_status():
    drawn = {
        name: int(status) for name, status in re.findall(r"(\w+)\s+(\d{3})\b", errors.__doc__ or "")
    }
    # no tree beside this one (the client's ApiError is an answer received, never one given)
    classes = [cls for cls in every_error_class() if cls.__module__ != "aurum.client"]
    assert {cls.__module__ for cls in classes} == {"aurum.errors"}
    for cls in classes:
        assert 400 <= cls.http_status < 600, cls
        if "http_status" in vars(cls) or cls is AurumError:  # a status of its own is drawn
            assert drawn.get(cls.__name__) == cls.http_status, cls.__name__
    assert set(errors.__all__) == {cls.__name__ for cls in classes}


SERVED = [cls for cls in every_error_class() if cls.__module__ == "aurum.errors"]


@pytest.mark.parametrize("cls", SERVED, ids=lambda cls: cls.__name__)
def test_the_api_answers_each_class_with_its_status(cls):
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise cls("some_code", "what went wrong")

    answer = TestClient(app).get("/boom")
    assert answer.status_code == cls.http_status
    assert answer.json()["code"] == "some_code"
    assert answer.headers["content-type"] == problems.PROBLEM


def test_no_table_of_codes_picks_statuses():
    source = importlib.import_module("aurum.api.problems").__file__
    assert source is not None
    text = Path(source).read_text(encoding="utf-8")
    assert "_STATUS" not in text and '"parameter_invalid": 400' not in text
