"""Kafka connection security settings (monitor/kafka_security.py) and the client options built from them.

Pure: no broker. Every protocol and mechanism maps to the right aiokafka, Faust and confluent-kafka options;
secrets come from variables or `*_FILE`; unsafe or incoherent combinations are refused by variable name;
no secret ever shows in a repr, an error or `--help`.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

import faust
import pytest

from cli.main import main
from monitor.kafka_security import PLAINTEXT, KafkaSecurity, KafkaSecurityError, load_kafka_security
from monitor.secret_files import SecretFileError
from monitor.settings import Settings
from streams.kafka_clients import (
    HookTokenProvider,
    aiokafka_options,
    check_usable,
    confluent_config,
    faust_credentials,
    ssl_context,
)
from streams.kafka_refusals import explain_kafka_error

REPO = Path(__file__).resolve().parents[1]
SECRET = "s3cret-Pa55word-never-shown"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and a client certificate made by the secured broker's own script."""
    out = tmp_path_factory.mktemp("pki")
    subprocess.run([str(REPO / "deploy/kafka/secure/make-certs.sh"), str(out), "client"], check=True, timeout=120)
    return out


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ALPR_* variable of the developer's shell leaks into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("ALPR_"):
            monkeypatch.delenv(name)


def scram(mechanism: str = "SCRAM-SHA-512", **extra: Any) -> KafkaSecurity:
    return load_kafka_security(
        security_protocol="SASL_SSL", sasl_mechanism=mechanism, sasl_username="svc", sasl_password=SECRET, **extra
    )


def token_hook() -> tuple[str, float]:
    """An OAUTHBEARER hook for the tests: a fixed token and expiry."""
    return "a-token", 1_900_000_000.0


async def async_token_hook() -> str:
    return "async-token"


class TestSettingsFromEnvironment:
    def test_default_is_plaintext(self) -> None:
        """With no variable set the clients connect in plaintext, as before."""
        security = load_kafka_security()
        assert security.security_protocol == "PLAINTEXT"
        assert aiokafka_options(security) == {"security_protocol": "PLAINTEXT"}
        assert faust_credentials(security) is None
        assert confluent_config(security) == {"security.protocol": "plaintext"}

    def test_variables_are_read(self, monkeypatch: pytest.MonkeyPatch, pki: Path) -> None:
        """ALPR_KAFKA_* variables set every field; booleans parse."""
        monkeypatch.setenv("ALPR_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
        monkeypatch.setenv("ALPR_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
        monkeypatch.setenv("ALPR_KAFKA_SASL_USERNAME", "svc")
        monkeypatch.setenv("ALPR_KAFKA_SASL_PASSWORD", SECRET)
        monkeypatch.setenv("ALPR_KAFKA_SSL_CA_FILE", str(pki / "ca.pem"))
        monkeypatch.setenv("ALPR_KAFKA_SSL_CHECK_HOSTNAME", "false")
        security = Settings().kafka
        assert (security.security_protocol, security.sasl_mechanism, security.sasl_username) == (
            "SASL_SSL",
            "SCRAM-SHA-256",
            "svc",
        )
        assert security.sasl_password is not None
        assert security.sasl_password.get_secret_value() == SECRET
        assert security.ssl_ca_file == pki / "ca.pem"
        assert security.ssl_check_hostname is False

    def test_empty_variables_count_as_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Variables set to "" (a chart or compose file rendering an absent value) are as if unset."""
        for name in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_PASSWORD", "SSL_CA_FILE", "SASL_PASSWORD_FILE"):
            monkeypatch.setenv(f"ALPR_KAFKA_{name}", "")
        security = load_kafka_security()
        assert security.security_protocol == "PLAINTEXT"
        assert security.ssl_ca_file is None
        assert security.sasl_password is None

    def test_protocol_and_mechanism_in_either_case(self) -> None:
        """librdkafka's lower-case spellings (sasl_ssl, scram-sha-512) are accepted."""
        security = load_kafka_security(
            security_protocol="sasl_ssl", sasl_mechanism="scram-sha-512", sasl_username="u", sasl_password=SECRET
        )
        assert (security.security_protocol, security.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")

    def test_password_from_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """ALPR_KAFKA_SASL_PASSWORD_FILE gives the file's content without its trailing newline."""
        secret_file = tmp_path / "password"
        secret_file.write_text(SECRET + "\n")
        monkeypatch.setenv("ALPR_KAFKA_SASL_PASSWORD_FILE", str(secret_file))
        security = load_kafka_security(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="svc")
        assert security.sasl_password is not None
        assert security.sasl_password.get_secret_value() == SECRET

    def test_key_password_and_pseudonym_key_from_files(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pki: Path
    ) -> None:
        """Every secret setting takes *_FILE: the key password and ALPR_PSEUDONYM_KEY_FILE too."""
        (tmp_path / "kp").write_text("key-pass\n")
        (tmp_path / "pk").write_text("pseudonym-key-0123456789\n")
        monkeypatch.setenv("ALPR_KAFKA_SSL_KEY_PASSWORD_FILE", str(tmp_path / "kp"))
        monkeypatch.setenv("ALPR_PSEUDONYM_KEY_FILE", str(tmp_path / "pk"))
        security = load_kafka_security(security_protocol="SSL", ssl_cert_file=pki / "client.pem")
        assert security.ssl_key_password is not None
        assert security.ssl_key_password.get_secret_value() == "key-pass"
        settings = Settings(kafka=PLAINTEXT)
        assert settings.pseudonym_key is not None
        assert settings.pseudonym_key.get_secret_value() == "pseudonym-key-0123456789"

    def test_variable_and_file_together_are_refused(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """Setting X and X_FILE is an error naming both, since which one wins would be a guess."""
        (tmp_path / "p").write_text("other")
        monkeypatch.setenv("ALPR_KAFKA_SASL_PASSWORD", SECRET)
        monkeypatch.setenv("ALPR_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "p"))
        with pytest.raises(KafkaSecurityError, match="set ALPR_KAFKA_SASL_PASSWORD or ALPR_KAFKA_SASL_PASSWORD_FILE"):
            load_kafka_security()

    @pytest.mark.parametrize("path", ["/dev/zero", "huge"])
    def test_endless_or_huge_secret_file_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str
    ) -> None:
        """A *_FILE naming /dev/zero (no regular file) or a huge file is refused by name, never read without bound."""
        if path == "huge":
            huge = tmp_path / "huge"
            with huge.open("wb") as handle:
                handle.truncate(4 * 1024 * 1024)  # sparse: no disk used
            path = str(huge)
        monkeypatch.setenv("ALPR_PSEUDONYM_KEY_FILE", path)
        with pytest.raises(
            SecretFileError, match=r"ALPR_PSEUDONYM_KEY_FILE: .* (is larger than|is not a regular file)"
        ):
            Settings(kafka=PLAINTEXT)

    def test_unreadable_secret_file_names_variable_and_path(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A missing or empty *_FILE is an error naming the variable and the path."""
        monkeypatch.setenv("ALPR_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "missing"))
        with pytest.raises(KafkaSecurityError, match=r"ALPR_KAFKA_SASL_PASSWORD_FILE: .*missing cannot be read"):
            load_kafka_security()
        (tmp_path / "empty").write_text("\n")
        monkeypatch.setenv("ALPR_PSEUDONYM_KEY_FILE", str(tmp_path / "empty"))
        monkeypatch.delenv("ALPR_KAFKA_SASL_PASSWORD_FILE")
        with pytest.raises(SecretFileError, match=r"ALPR_PSEUDONYM_KEY_FILE: .*empty is empty"):
            Settings(kafka=PLAINTEXT)


class TestRefusals:
    def test_sasl_plaintext_refused_unless_allowed(self) -> None:
        """SASL_PLAINTEXT is refused with what to do; ALPR_KAFKA_ALLOW_SASL_PLAINTEXT=true allows it."""
        with pytest.raises(
            KafkaSecurityError, match="SASL_PLAINTEXT would send the SASL credentials unencrypted"
        ) as err:
            load_kafka_security(
                security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u", sasl_password=SECRET
            )
        assert "ALPR_KAFKA_ALLOW_SASL_PLAINTEXT=true" in str(err.value)
        assert SECRET not in str(err.value)
        allowed = load_kafka_security(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_username="u",
            sasl_password=SECRET,
            allow_sasl_plaintext=True,
        )
        assert aiokafka_options(allowed)["security_protocol"] == "SASL_PLAINTEXT"
        assert "ssl_context" not in aiokafka_options(allowed)

    def test_credentials_with_a_non_sasl_protocol_are_refused(self) -> None:
        """A password given while the protocol is PLAINTEXT (credentials that would go unused) is refused."""
        with pytest.raises(KafkaSecurityError, match=r"ALPR_KAFKA_SASL_PASSWORD set but .*=PLAINTEXT: use SASL_SSL"):
            load_kafka_security(sasl_password=SECRET)

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"security_protocol": "SASL_SSL"}, "ALPR_KAFKA_SASL_MECHANISM is required with SASL_SSL"),
            ({"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512"}, "ALPR_KAFKA_SASL_USERNAME is req"),
            (
                {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
                "ALPR_KAFKA_SASL_PASSWORD \\(or ALPR_KAFKA_SASL_PASSWORD_FILE\\) is required with PLAIN",
            ),
            (
                {"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER"},
                "ALPR_KAFKA_OAUTH_TOKEN_PROVIDER \\(module:callable\\) is required",
            ),
            (
                {"security_protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER", "oauth_token_provider": "nocolon"},
                "is not of the form module:callable",
            ),
            ({"security_protocol": "PLAINTEXT", "ssl_ca_file": "/etc/hostname"}, "does not use TLS"),
            ({"security_protocol": "SSL", "ssl_ca_file": "/no/such/ca.pem"}, "ALPR_KAFKA_SSL_CA_FILE: no such file"),
            ({"security_protocol": "SSL", "ssl_key_file": "/etc/hostname"}, "without ALPR_KAFKA_SSL_CERT_FILE"),
            ({"security_protocol": "TLS"}, "ALPR_KAFKA_SECURITY_PROTOCOL: Input should be"),
            ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI"}, "ALPR_KAFKA_SASL_MECHANISM: Input should"),
        ],
    )
    def test_incoherent_settings_name_the_variable(self, fields: dict[str, Any], message: str) -> None:
        """Each incoherent combination is refused with the variable to change."""
        with pytest.raises(KafkaSecurityError, match=message):
            load_kafka_security(**fields)

    def test_errors_never_quote_a_secret(self) -> None:
        """A refusal lists problems by variable; the password given is nowhere in the message."""
        with pytest.raises(KafkaSecurityError) as err:
            load_kafka_security(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_password=SECRET)
        assert SECRET not in str(err.value)
        assert SECRET not in repr(err.value)

    def test_cli_exits_2_on_unusable_settings(self, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
        """`worker`, `produce` and `notify` stop with status 2 on unusable Kafka settings, secret not echoed."""
        monkeypatch.setenv("ALPR_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
        monkeypatch.setenv("ALPR_KAFKA_SASL_MECHANISM", "PLAIN")
        monkeypatch.setenv("ALPR_KAFKA_SASL_USERNAME", "svc")
        monkeypatch.setenv("ALPR_KAFKA_SASL_PASSWORD", SECRET)
        for argv in (["worker"], ["produce", "/dev/null"], ["notify", "--config", "/dev/null"]):
            with pytest.raises(SystemExit) as exited:
                main(argv)
            assert exited.value.code == 2
            err = capsys.readouterr().err
            assert "SASL_PLAINTEXT would send the SASL credentials unencrypted" in err
            assert SECRET not in err

    def test_unloadable_tls_files_exit_2(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any) -> None:
        """A CA file that is not PEM stops `produce` with status 2, naming the TLS settings."""
        (tmp_path / "ca.pem").write_text("not a certificate")
        monkeypatch.setenv("ALPR_KAFKA_SECURITY_PROTOCOL", "SSL")
        monkeypatch.setenv("ALPR_KAFKA_SSL_CA_FILE", str(tmp_path / "ca.pem"))
        with pytest.raises(SystemExit) as exited:
            main(["produce", "/dev/null"])
        assert exited.value.code == 2
        assert "Kafka TLS files unusable" in capsys.readouterr().err


class TestSecretsStayHidden:
    def test_repr_and_str_hide_secrets(self, tmp_path: Path) -> None:
        """repr, str and model_dump of the settings (and of Settings holding them) never show a secret."""
        security = scram(ssl_key_password=None)
        for text in (repr(security), str(security), repr(Settings(kafka=security)), str(security.model_dump())):
            assert SECRET not in text
        assert "**********" in repr(security)

    def test_describe_for_logs(self, pki: Path) -> None:
        """The one-line description names protocol, mechanism, user and trust store, never the password."""
        described = scram(ssl_ca_file=pki / "ca.pem").describe()
        assert described == f"SASL_SSL, SCRAM-SHA-512, user svc, CA {pki / 'ca.pem'}"
        assert scram().describe().endswith("system CAs")

    def test_help_shows_no_secret(self, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
        """`--help` of every Kafka command shows no secret, even with one in the environment."""
        monkeypatch.setenv("ALPR_KAFKA_SASL_PASSWORD", SECRET)
        for command in ("worker", "produce", "notify"):
            with pytest.raises(SystemExit):
                main([command, "--help"])
            assert SECRET not in capsys.readouterr().out

    def test_faust_credentials_repr_hides_password(self) -> None:
        """Faust's SASLCredentials, as built here, do not print the password."""
        credentials = faust_credentials(scram())
        assert SECRET not in repr(credentials)


class TestClientOptions:
    @pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    def test_sasl_ssl_password_mechanisms(self, mechanism: str, pki: Path) -> None:
        """SASL_SSL with a password mechanism: TLS context with hostname check, mechanism, user and password."""
        security = scram(mechanism, ssl_ca_file=pki / "ca.pem")
        options = aiokafka_options(security)
        context = options.pop("ssl_context")
        assert isinstance(context, ssl.SSLContext)
        assert context.check_hostname is True
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert options == {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": mechanism,
            "sasl_plain_username": "svc",
            "sasl_plain_password": SECRET,
        }
        credentials = faust_credentials(security)
        assert isinstance(credentials, faust.SASLCredentials)
        assert (credentials.protocol.value, credentials.mechanism.value) == ("SASL_SSL", mechanism)
        assert (credentials.username, credentials.password) == ("svc", SECRET)
        assert isinstance(credentials.ssl_context, ssl.SSLContext)
        assert confluent_config(security) == {
            "security.protocol": "sasl_ssl",
            "ssl.ca.location": str(pki / "ca.pem"),
            "ssl.endpoint.identification.algorithm": "https",
            "sasl.mechanism": mechanism,
            "sasl.username": "svc",
            "sasl.password": SECRET,
        }

    def test_system_trust_store_when_no_ca_file(self) -> None:
        """Without a CA file the context trusts the system store and librdkafka probes for it."""
        security = scram("PLAIN")
        context = ssl_context(security)
        assert context is not None
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert confluent_config(security)["ssl.ca.location"] == "probe"

    def test_mtls_client_certificate(self, pki: Path) -> None:
        """SSL with a client certificate: aiokafka and Faust get a context holding it; librdkafka its paths."""
        security = load_kafka_security(
            security_protocol="SSL",
            ssl_ca_file=pki / "ca.pem",
            ssl_cert_file=pki / "client.pem",
            ssl_key_file=pki / "client.key",
        )
        options = aiokafka_options(security)
        assert options["security_protocol"] == "SSL"
        assert set(options) == {"security_protocol", "ssl_context"}
        credentials = faust_credentials(security)
        assert isinstance(credentials, ssl.SSLContext)  # Faust wraps a bare context as SSL credentials
        assert confluent_config(security) == {
            "security.protocol": "ssl",
            "ssl.ca.location": str(pki / "ca.pem"),
            "ssl.endpoint.identification.algorithm": "https",
            "ssl.certificate.location": str(pki / "client.pem"),
            "ssl.key.location": str(pki / "client.key"),
        }

    def test_hostname_check_can_be_turned_off_only_explicitly(self, pki: Path) -> None:
        """ALPR_KAFKA_SSL_CHECK_HOSTNAME=false drops the name check; the chain is still verified."""
        security = load_kafka_security(security_protocol="SSL", ssl_ca_file=pki / "ca.pem", ssl_check_hostname=False)
        context = ssl_context(security)
        assert context is not None
        assert context.check_hostname is False
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert confluent_config(security)["ssl.endpoint.identification.algorithm"] == "none"

    def test_wrong_key_for_certificate_is_a_settings_error(self, pki: Path) -> None:
        """A key that does not match the certificate is a KafkaSecurityError at start, naming the variables."""
        security = load_kafka_security(
            security_protocol="SSL", ssl_cert_file=pki / "client.pem", ssl_key_file=pki / "ca.key"
        )
        with pytest.raises(KafkaSecurityError, match="ALPR_KAFKA_SSL_CERT_FILE/ALPR_KAFKA_SSL_KEY_FILE"):
            check_usable(security)

    async def test_oauthbearer_token_hook(self) -> None:
        """OAUTHBEARER: the `module:callable` hook feeds aiokafka's and Faust's provider and librdkafka's oauth_cb."""
        security = load_kafka_security(
            security_protocol="SASL_SSL",
            sasl_mechanism="OAUTHBEARER",
            oauth_token_provider="test_kafka_security:token_hook",
        )
        options = aiokafka_options(security)
        provider = options["sasl_oauth_token_provider"]
        assert isinstance(provider, HookTokenProvider)
        assert await provider.token() == "a-token"
        assert options["sasl_mechanism"] == "OAUTHBEARER"
        assert "sasl_plain_password" not in options
        credentials = faust_credentials(security)
        assert isinstance(credentials, faust.OAuthCredentials)
        assert credentials.protocol.value == "SASL_SSL"
        config = confluent_config(security)
        assert config["oauth_cb"]("") == ("a-token", 1_900_000_000.0)
        assert config["sasl.mechanism"] == "OAUTHBEARER"

    async def test_async_token_hook(self) -> None:
        """An async hook returning only a token works too."""
        provider = HookTokenProvider(async_token_hook)
        assert await provider.token() == "async-token"

    def test_missing_token_hook_is_a_settings_error(self) -> None:
        """A hook that cannot be imported is named at start (exit 2), not at the first connection."""
        security = load_kafka_security(
            security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER", oauth_token_provider="no_such_mod:token"
        )
        with pytest.raises(KafkaSecurityError, match="cannot import 'no_such_mod'"):
            check_usable(security)


class TestExplainErrors:
    def test_known_refusals_are_explained(self) -> None:
        """TLS, SASL and ACL refusals become sentences naming the setting to fix, never the secret."""
        from aiokafka.errors import SaslAuthenticationFailed, TopicAuthorizationFailedError

        security = scram()
        verify = ssl.SSLCertVerificationError("certificate verify failed: unable to get local issuer certificate")
        assert "not trusted by the system trust store" in explain_kafka_error(verify, security)
        mismatch = ssl.SSLCertVerificationError(
            "certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'"
        )
        assert "does not name the address dialled" in explain_kafka_error(mismatch, security)
        assert "requires a client certificate" in explain_kafka_error(
            ssl.SSLError("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required"), security
        )
        sasl = explain_kafka_error(SaslAuthenticationFailed("invalid credentials"), security)
        assert sasl.startswith("SASL authentication failed for user 'svc' (SCRAM-SHA-512)")
        assert SECRET not in sasl
        assert "ACLs" in explain_kafka_error(TopicAuthorizationFailedError("t"), security)
        other = explain_kafka_error(RuntimeError("boom"), security)
        assert other == "boom (connection security: SASL_SSL, SCRAM-SHA-512, user svc, system CAs)"
