"""Why Kafka refused a client, in a sentence naming what to change (a setting, an ACL), never a secret.

aiokafka logs the real cause of a failed bootstrap (a TLS or SASL refusal) and raises only "Unable to
bootstrap"; Faust retries such a connection forever and waits silently on a topic or a group it may not
use. `preflight` connects once before a long-running client starts, `explain_connection_failure` probes
after a failure, and `refusal_reason` words what they find.
"""

from __future__ import annotations

import asyncio
import ssl

from monitor.kafka_security import KafkaSecurity
from streams.kafka_clients import aiokafka_options

__all__ = ["explain_connection_failure", "explain_kafka_error", "preflight", "refusal_reason"]


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
    if "hostname mismatch" in lowered or "ip address mismatch" in lowered:
        return (
            "TLS: the broker's certificate does not name the address dialled: use an address its certificate "
            "names in ALPR_BROKER (or, knowingly, ALPR_KAFKA_SSL_CHECK_HOSTNAME=false)"
        )
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


_TOPIC_AUTHORIZATION_FAILED = 29  # Kafka protocol error code


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
    from aiokafka.protocol.metadata import MetadataRequest

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
        # Asked without auto-creation: a preflight on a broker with auto.create.topics.enable must not
        # create the input topic and so hide the "input topic missing" alarm.
        node = client.get_random_node()
        metadata = await asyncio.wait_for(client.send(node, MetadataRequest(topics, False)), timeout_s)
        denied = sorted({topic[1] for topic in metadata.topics if topic[0] == _TOPIC_AUTHORIZATION_FAILED})
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
