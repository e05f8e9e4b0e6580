"""Bearer tokens, TLS and mTLS with certificates made here, and the non-loopback guard."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pruneplan.clients import Client
from pruneplan.service.server import ServerConfig, check_config

from .conftest import ServerFactory, tiny_problem

Pem = tuple[bytes, bytes]  # (certificate, key)


def _cert(
    name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    return cert, key


def _write(
    tmp: Path, name: str, pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
) -> tuple[str, str]:
    cert, key = pair
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("pki")
    ca = _cert("pruneplan test CA", None)
    paths = {}
    paths["ca"], _ = _write(tmp, "ca", ca)
    paths["server_cert"], paths["server_key"] = _write(tmp, "server", _cert("localhost", ca))
    paths["client_cert"], paths["client_key"] = _write(tmp, "client", _cert("trainer", ca))
    other = _cert("other CA", None)
    paths["rogue_cert"], paths["rogue_key"] = _write(tmp, "rogue", _cert("rogue", other))
    return paths


@pytest.fixture
def token_server(make_server: ServerFactory, tmp_path: Path) -> int:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token\n")
    return make_server(token_file=str(token_file))[1]


@pytest.mark.parametrize(
    "token", [None, "wrong", "s3cret-token-and-more"], ids=["none", "wrong", "prefix"]
)
def test_without_the_right_token_unauthenticated(token_server: int, token: str | None) -> None:
    with (
        Client(f"127.0.0.1:{token_server}", token=token) as client,
        pytest.raises(grpc.RpcError) as info,
    ):
        client.solve(tiny_problem())
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_streams_need_the_token_too(token_server: int) -> None:
    with (
        Client(f"127.0.0.1:{token_server}", token="wrong") as client,
        pytest.raises(grpc.RpcError) as info,
    ):
        list(client.solve_stream(tiny_problem()))
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_right_token_and_open_health(token_server: int) -> None:
    with Client(f"127.0.0.1:{token_server}", token="s3cret-token") as client:
        assert client.solve(tiny_problem()).status.name == "OPTIMAL"
    with grpc.insecure_channel(f"127.0.0.1:{token_server}") as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_tls(make_server: ServerFactory, pki: dict[str, str]) -> None:
    _, port = make_server(tls_cert=pki["server_cert"], tls_key=pki["server_key"])
    with Client(f"localhost:{port}", tls_ca=Path(pki["ca"])) as client:
        assert client.ping(b"x") == b"x"
    with Client(f"localhost:{port}", timeout=5) as plaintext, pytest.raises(grpc.RpcError) as info:
        plaintext.ping(b"x")
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE


def test_mtls(make_server: ServerFactory, pki: dict[str, str]) -> None:
    _, port = make_server(
        tls_cert=pki["server_cert"], tls_key=pki["server_key"], tls_client_ca=pki["ca"]
    )
    target = f"localhost:{port}"
    good = {"tls_cert": pki["client_cert"], "tls_key": pki["client_key"]}
    with Client(target, tls_ca=pki["ca"], **good) as client:
        assert client.solve(tiny_problem()).status.name == "OPTIMAL"
    rogue = {"tls_cert": pki["rogue_cert"], "tls_key": pki["rogue_key"]}
    for extra in ({}, rogue):
        with (
            Client(target, tls_ca=pki["ca"], timeout=5, **extra) as client,
            pytest.raises(grpc.RpcError) as info,
        ):
            client.ping(b"x")
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_refuses_public_host_without_auth_or_tls(host: str) -> None:
    with pytest.raises(ValueError, match="--insecure"):
        check_config(ServerConfig(host=host))
    check_config(ServerConfig(host=host, insecure=True))
    check_config(ServerConfig(host=host, token_file="token"))


def test_loopback_needs_nothing() -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        check_config(ServerConfig(host=host))
