"""hybrid-router: answer on the device when you can, forward the rest to the cloud.

The public surface for apps is the client::

    from router import RouterClient
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Exported lazily, so `import router` stays cheap (no grpc import until a client is used).
_EXPORTS = {
    "RouterClient": "router.client",
    "ClientError": "router.client",
    "DecisionInfo": "router.client",
    "Reply": "router.client",
    "StreamEnd": "router.client",
    "RouterError": "router.errors",
}

__all__ = ["ClientError", "DecisionInfo", "Reply", "RouterClient", "RouterError", "StreamEnd", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'router' has no attribute {name!r}")
