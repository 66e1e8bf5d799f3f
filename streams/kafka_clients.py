"""Connection options for every Kafka client, from one `KafkaSecurity` (monitor/kafka_security.py).

- `aiokafka_options`: keyword arguments for `AIOKafkaProducer`/`AIOKafkaConsumer`/`AIOKafkaAdminClient`
  (notifier, produce/ingest, benchmarks, test helpers);
- `faust_credentials`: Faust's `broker_credentials` (the worker). On faust-streaming 0.15.3 a SASL
  credential without an `ssl_context` silently becomes SASL_PLAINTEXT, and `faust.SSLCredentials(cafile=)`
  raises TypeError, so the TLS context is always built here with aiokafka's `create_ssl_context`;
- `confluent_config`: librdkafka properties (confluent-kafka AdminClient, e.g. ACLs in tests).
Why a connection was refused, in words an operator can act on: `streams/kafka_refusals.py`.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import ssl
import time
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka.abc import AbstractTokenProvider
from aiokafka.helpers import create_ssl_context

from monitor.kafka_security import KafkaSecurity, KafkaSecurityError

__all__ = [
    "HookTokenProvider",
    "aiokafka_options",
    "check_usable",
    "confluent_config",
    "faust_credentials",
    "load_token_hook",
    "ssl_context",
]

log = structlog.get_logger(__name__)

TokenHook = Callable[[], Any]
"""`ALPR_KAFKA_OAUTH_TOKEN_PROVIDER`: called with no argument, returns (or awaits to) a token string or
a (token, expires_at) pair, expires_at in seconds since the epoch."""
DEFAULT_TOKEN_LIFETIME_S = 300.0
"""Assumed lifetime of a token returned without its expiry: librdkafka asks again well before."""


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context (CA file or the system trust store, client certificate), or None without TLS."""
    if not security.uses_tls:
        return None
    password = security.ssl_key_password.get_secret_value() if security.ssl_key_password else None
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=security.ssl_ca_file,
            certfile=security.ssl_cert_file,
            keyfile=security.ssl_key_file,
            password=password,
        )
    except ssl.SSLError as exc:
        raise KafkaSecurityError(
            f"Kafka TLS files unusable ({exc.reason or type(exc).__name__}): check ALPR_KAFKA_SSL_CA_FILE "
            "(PEM CA certificates), ALPR_KAFKA_SSL_CERT_FILE/ALPR_KAFKA_SSL_KEY_FILE (a PEM certificate and "
            "its key) and ALPR_KAFKA_SSL_KEY_PASSWORD"
        ) from None
    except OSError as exc:
        raise KafkaSecurityError(f"Kafka TLS files unreadable: {exc.strerror}: {exc.filename}") from None
    if not security.ssl_check_hostname:
        # Verification of the chain stays on; only the name check is off (an address-only broker).
        context.check_hostname = False
        log.warning("Kafka broker hostname check is off (ALPR_KAFKA_SSL_CHECK_HOSTNAME=false)")
    return context


def load_token_hook(spec: str) -> TokenHook:
    """Import `module:callable`; a clear `KafkaSecurityError` when it is not there."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise KafkaSecurityError(f"ALPR_KAFKA_OAUTH_TOKEN_PROVIDER: cannot import {module_name!r}: {exc}") from None
    hook = getattr(module, attribute, None)
    if not callable(hook):
        raise KafkaSecurityError(f"ALPR_KAFKA_OAUTH_TOKEN_PROVIDER: {spec!r} is not a callable")
    return hook  # type: ignore[no-any-return]


def _token_and_expiry(answer: Any) -> tuple[str, float]:
    if isinstance(answer, tuple):
        token, expires_at = answer
        return str(token), float(expires_at)
    return str(answer), time.time() + DEFAULT_TOKEN_LIFETIME_S


class HookTokenProvider(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka ships no type information
    """aiokafka's (and Faust's) OAUTHBEARER token provider, asking the configured hook."""

    def __init__(self, hook: TokenHook) -> None:
        self._hook = hook

    async def token(self) -> str:
        answer = self._hook()
        if inspect.isawaitable(answer):
            answer = await answer
        return _token_and_expiry(answer)[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self._hook, '__qualname__', self._hook)!r}>"


def _token_provider(security: KafkaSecurity) -> HookTokenProvider | None:
    if security.sasl_mechanism != "OAUTHBEARER" or security.oauth_token_provider is None:
        return None
    return HookTokenProvider(load_token_hook(security.oauth_token_provider))


def aiokafka_options(security: KafkaSecurity) -> dict[str, Any]:
    """`security_protocol`, `ssl_context` and the `sasl_*` arguments of aiokafka's clients."""
    options: dict[str, Any] = {"security_protocol": security.security_protocol}
    context = ssl_context(security)
    if context is not None:
        options["ssl_context"] = context
    if security.uses_sasl:
        options["sasl_mechanism"] = security.sasl_mechanism
        if security.sasl_mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = _token_provider(security)
        else:
            options["sasl_plain_username"] = security.sasl_username
            assert security.sasl_password is not None  # the settings refuse a password mechanism without one
            options["sasl_plain_password"] = security.sasl_password.get_secret_value()
    return options


def faust_credentials(security: KafkaSecurity) -> Any:
    """Faust's `broker_credentials`: None, an SSLContext, SASLCredentials or OAuthCredentials."""
    import faust

    context = ssl_context(security)
    if not security.uses_sasl:
        return context  # None (PLAINTEXT) or the TLS context (SSL, with a client certificate for mTLS)
    if security.sasl_mechanism == "OAUTHBEARER":
        return faust.OAuthCredentials(oauth_cb=_token_provider(security), ssl_context=context)
    assert security.sasl_password is not None
    return faust.SASLCredentials(
        username=security.sasl_username,
        password=security.sasl_password.get_secret_value(),
        mechanism=security.sasl_mechanism,
        ssl_context=context,  # None only for an explicitly allowed SASL_PLAINTEXT
    )


def confluent_config(security: KafkaSecurity) -> dict[str, Any]:
    """librdkafka properties for confluent-kafka clients."""
    config: dict[str, Any] = {"security.protocol": security.security_protocol.lower()}
    if security.uses_tls:
        # "probe": librdkafka looks for the system's CA bundle (the wheel's OpenSSL has no default path).
        config["ssl.ca.location"] = str(security.ssl_ca_file) if security.ssl_ca_file else "probe"
        config["ssl.endpoint.identification.algorithm"] = "https" if security.ssl_check_hostname else "none"
        if security.ssl_cert_file is not None:
            config["ssl.certificate.location"] = str(security.ssl_cert_file)
            config["ssl.key.location"] = str(security.ssl_key_file or security.ssl_cert_file)
        if security.ssl_key_password is not None:
            config["ssl.key.password"] = security.ssl_key_password.get_secret_value()
    if security.uses_sasl:
        config["sasl.mechanism"] = security.sasl_mechanism
        if security.sasl_mechanism == "OAUTHBEARER":
            assert security.oauth_token_provider is not None
            hook = load_token_hook(security.oauth_token_provider)

            def oauth_cb(_config: str) -> tuple[str, float]:
                answer = hook()
                if inspect.isawaitable(answer):
                    answer = asyncio.run(_await(answer))
                return _token_and_expiry(answer)

            config["oauth_cb"] = oauth_cb
        else:
            assert security.sasl_password is not None
            config["sasl.username"] = security.sasl_username
            config["sasl.password"] = security.sasl_password.get_secret_value()
    return config


async def _await(awaitable: Any) -> Any:
    return await awaitable


def check_usable(security: KafkaSecurity) -> None:
    """Build what the clients will need now (TLS context, token hook): a bad file fails at start, exit 2."""
    ssl_context(security)
    _token_provider(security)
