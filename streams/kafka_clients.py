"""Connection options for every Kafka client, from one `KafkaSecurity` (monitor/kafka_security.py).

- `aiokafka_options`: keyword arguments for `AIOKafkaProducer`/`AIOKafkaConsumer`/`AIOKafkaAdminClient`
  (notifier, produce/ingest, benchmarks, test helpers);
- `faust_credentials`: Faust's `broker_credentials` (the worker). On faust-streaming 0.15.3 a SASL
  credential without an `ssl_context` silently becomes SASL_PLAINTEXT, and `faust.SSLCredentials(cafile=)`
  raises TypeError, so the TLS context is always built here with aiokafka's `create_ssl_context`;
- `confluent_config`: librdkafka properties (confluent-kafka AdminClient, e.g. ACLs in tests).
`explain_kafka_error` turns a refused connection into a sentence naming what to fix, never a secret.
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
    "explain_connection_failure",
    "explain_kafka_error",
    "faust_credentials",
    "load_token_hook",
    "preflight",
    "refusal_reason",
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


def explain_kafka_error(exc: BaseException, security: KafkaSecurity) -> str:
    """What a refused Kafka connection means and what to change; names settings, never their secret values."""
    specific = refusal_reason(exc, security)
    if specific is not None:
        return specific
    return f"{_first_line(str(exc)) or type(exc).__name__} (connection security: {security.describe()})"


def refusal_reason(exc: BaseException, security: KafkaSecurity) -> str | None:
    """The sentence for a TLS, SASL or ACL refusal in `exc` or its causes; None for anything else."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    lowered = text.lower()
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain) or "certificate verify failed" in lowered:
        trust = f"the CA in {security.ssl_ca_file}" if security.ssl_ca_file else "the system trust store"
        return (
            f"TLS: the broker's certificate is not trusted by {trust}: set ALPR_KAFKA_SSL_CA_FILE to the CA "
            "that signed the broker's certificate (or check ALPR_KAFKA_SSL_CHECK_HOSTNAME and the broker address)"
        )
    if "certificate required" in lowered or "certificate_required" in lowered or "bad certificate" in lowered:
        return (
            "TLS: the broker requires a client certificate (mTLS) and refused ours or got none: set "
            "ALPR_KAFKA_SSL_CERT_FILE and ALPR_KAFKA_SSL_KEY_FILE to a certificate its CA signed"
        )
    if names & {"SaslAuthenticationFailed", "AuthenticationFailedError", "IllegalSaslStateError"} or (
        "authentication failed" in lowered
    ):
        return (
            f"SASL authentication failed for user {security.sasl_username!r} ({security.sasl_mechanism}): "
            "check ALPR_KAFKA_SASL_USERNAME, the password (ALPR_KAFKA_SASL_PASSWORD or _FILE) and "
            "ALPR_KAFKA_SASL_MECHANISM"
        )
    if names & {"UnsupportedSaslMechanismError", "AuthenticationMethodNotSupported"}:
        return f"the broker does not offer SASL mechanism {security.sasl_mechanism}: set ALPR_KAFKA_SASL_MECHANISM"
    if "TopicAuthorizationFailedError" in names:
        return f"not authorised for a topic ({_first_line(text)}): the principal needs ACLs (READ input; WRITE outputs)"
    if "GroupAuthorizationFailedError" in names:
        return "not authorised for the consumer group: the principal needs READ on its group"
    if "ClusterAuthorizationFailedError" in names:
        return "not authorised for a cluster operation (e.g. creating topics): pre-create the topics or grant it"
    return None


async def explain_connection_failure(
    bootstrap: str, security: KafkaSecurity, error: BaseException, timeout_s: float = 15.0
) -> str:
    """Why a client could not bootstrap, found by connecting once more step by step.

    aiokafka logs the real cause (a TLS or SASL refusal) and raises only "Unable to bootstrap", so the
    first bootstrap server is probed: TCP and TLS, then a Kafka connection with SASL. Bounded by `timeout_s`.
    """
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    try:
        found = await asyncio.wait_for(_probe(host.strip("[]"), int(port), security), timeout_s)
    except (TimeoutError, ValueError):
        found = None
    return explain_kafka_error(found if found is not None else error, security)


async def _probe(host: str, port: int, security: KafkaSecurity) -> BaseException | None:
    from aiokafka.conn import create_conn

    options = aiokafka_options(security)
    context = options.get("ssl_context")
    if context is not None:
        try:
            reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
        except (ssl.SSLError, OSError) as exc:
            return exc
        try:
            # TLS 1.3: a broker that wants a client certificate says so with an alert after the handshake.
            if not await asyncio.wait_for(reader.read(1), 1.0) and security.ssl_cert_file is None:
                return ssl.SSLError("the broker closed the connection: certificate required?")
        except TimeoutError:
            pass  # the broker waits for a request: TLS is fine
        except (ssl.SSLError, OSError) as exc:
            return exc
        finally:
            writer.close()
    try:
        connection = await create_conn(host, port, request_timeout_ms=10_000, **options)
    except Exception as exc:  # the refusal itself is what is explained
        return exc
    connection.close()
    return None


async def preflight(
    bootstrap: str, security: KafkaSecurity, topics: list[str], group: str | None = None, timeout_s: float = 15.0
) -> str | None:
    """Connect once, look the topics and the consumer group up: the refusal that would stall a client, or None.

    Faust (the worker) retries a refused connection, and waits forever on a topic or a group it may
    not use, logging one line at most; this names the refusal before it starts. A broker that is merely
    unreachable, or a topic that does not exist yet, is not a refusal: None, and the client retries.
    """
    from aiokafka.client import AIOKafkaClient, CoordinationType
    from aiokafka.errors import GroupAuthorizationFailedError, KafkaError

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **aiokafka_options(security))
    try:
        try:
            await asyncio.wait_for(client.bootstrap(), timeout_s)
        except (Exception, TimeoutError):  # aiokafka hides the cause: probe for it
            host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
            try:
                found = await asyncio.wait_for(_probe(host.strip("[]"), int(port), security), timeout_s)
            except (TimeoutError, ValueError):
                return None
            return None if found is None else refusal_reason(found, security)
        client.set_topics(topics)
        await asyncio.wait_for(client.force_metadata_update(), timeout_s)
        denied = sorted(set(topics) & set(client.cluster.unauthorized_topics))
        if denied:
            return (
                f"not authorised for topic(s) {', '.join(denied)} ({security.describe()}): the principal needs "
                "ACLs: READ on the input topic, WRITE on the alerts and dead-letter topics, READ on its group"
            )
        if group is not None:
            try:
                await asyncio.wait_for(client.coordinator_lookup(CoordinationType.GROUP, group), timeout_s)
            except GroupAuthorizationFailedError:
                return f"not authorised for consumer group {group!r} ({security.describe()}): grant READ on it"
            except KafkaError:
                pass  # e.g. no coordinator yet (a fresh cluster creates its offsets topic): the client retries
        return None
    except (TimeoutError, KafkaError, OSError):  # not a refusal: the client itself retries
        return None
    finally:
        await client.close()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""
