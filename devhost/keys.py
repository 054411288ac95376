"""Function and master keys for HTTP routes.

The real host keeps keys in its secret store; devhost takes them from settings:
DEVHOST_FUNCTION_KEY (accepted by every FUNCTION-level route) and
DEVHOST_MASTER_KEY (accepted everywhere; the only key for ADMIN routes and the
Durable management API). A key arrives as `?code=` or the `x-functions-key` header.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass

FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
MASTER_KEY_SETTING = "DEVHOST_MASTER_KEY"
KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True)
class KeyRing:
    function_key: str | None = None
    master_key: str | None = None

    @classmethod
    def from_settings(cls, environ: Mapping[str, str] | None = None) -> KeyRing:
        env = os.environ if environ is None else environ
        return cls(
            function_key=env.get(FUNCTION_KEY_SETTING) or None,
            master_key=env.get(MASTER_KEY_SETTING) or None,
        )

    def allows(self, auth_level: str, presented: str | None) -> bool:
        """Whether a request presenting `presented` may call a route of `auth_level`."""
        level = auth_level.upper()
        if level == "ANONYMOUS":
            return True
        master_ok = bool(self.master_key and presented and _same(presented, self.master_key))
        if level == "FUNCTION":
            if self.function_key is None and self.master_key is None:
                return True  # no keys configured: like Core Tools, FUNCTION routes are open
            function_ok = bool(
                self.function_key and presented and _same(presented, self.function_key)
            )
            return function_ok or master_ok
        # ADMIN (and anything unknown) fails closed: only the master key, never open.
        return master_ok


def presented_key(query: Mapping[str, str], headers: Mapping[str, str]) -> str | None:
    return headers.get(KEY_HEADER) or query.get(KEY_QUERY) or None
