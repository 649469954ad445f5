"""What a UI route reads from its request: the UI's state (``ui_of``) and the checked form (``form_of``).

Apart from ``parley.ui.app`` so that the routes, which the app mounts, do not import the app back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from parley.ui.app import UI
    from parley.ui.security import Form


def ui_of(request: Request) -> UI:
    return request.app.state.ui


def form_of(request: Request) -> Form:
    return request.state.form


__all__ = ["form_of", "ui_of"]
