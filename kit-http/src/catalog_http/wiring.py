"""What an app's composition root builds once and its request dependencies read: kept on `app.state`."""

from typing import TypeVar

from fastapi import FastAPI, Request

W = TypeVar("W")


def install_wiring(app: FastAPI, wiring: object) -> None:
    app.state.wiring = wiring


def wiring_of(request: Request, kind: type[W]) -> W:
    """The wiring `create_app()` installed; a clear error for an app built any other way."""
    wiring = getattr(request.app.state, "wiring", None)
    if not isinstance(wiring, kind):
        raise RuntimeError("the app was not built by create_app(): no wiring on app.state")
    return wiring
