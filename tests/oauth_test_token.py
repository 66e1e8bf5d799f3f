"""An OAUTHBEARER token hook for tests (`ALPR_KAFKA_OAUTH_TOKEN_PROVIDER=tests.oauth_test_token:unsecured_token`).

Returns an unsigned JWT that the secured test broker's unsecured validator accepts, for the principal
named by `TEST_OAUTH_SUBJECT`. Real deployments point the setting at a hook that fetches a signed token.
"""

from __future__ import annotations

import base64
import json
import os
import time

LIFETIME_S = 3600


def _part(document: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def unsecured_token() -> tuple[str, float]:
    """(token, expires_at): an unsigned JWT for `TEST_OAUTH_SUBJECT`."""
    now = int(time.time())
    claims = {"sub": os.environ["TEST_OAUTH_SUBJECT"], "iat": now, "exp": now + LIFETIME_S}
    return f"{_part({'alg': 'none'})}.{_part(claims)}.", float(now + LIFETIME_S)
