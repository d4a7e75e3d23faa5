"""The portal's JSON API offers only the methods it can pass."""

from __future__ import annotations

from passback.policy.gates import Method
from passback.server.portal.api import _api_methods


def test_methods_passed_only_in_the_pages_are_not_offered() -> None:
    """Security questions and a passkey are answered in the pages: the API
    lists neither (it used to list a passkey, then refuse it)."""
    offered = _api_methods(tuple(Method))
    assert Method.QUESTIONS not in offered and Method.PASSKEY not in offered
    assert offered == [m for m in Method if m not in (Method.QUESTIONS, Method.PASSKEY)]
