"""The SSRF guard of `jwks_uri` fetching: a host name is acceptable only if EVERY address it resolves to
is public; one private address among public ones is enough to refuse it (before any connection)."""

from __future__ import annotations

import socket

import pytest

from credo.keys.remote_jwks import RemoteJwks, RemoteJwksError, check_url, resolve_once

PUBLIC, PRIVATE = "93.184.216.34", "10.0.0.7"


def _answers(*addresses: str):  # type: ignore[no-untyped-def]
    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return getaddrinfo


@pytest.mark.parametrize("addresses", [(PUBLIC, PRIVATE), (PRIVATE, PUBLIC), (PUBLIC, "127.0.0.1"),
                                       (PUBLIC, "169.254.169.254")])
def test_one_non_public_address_refuses_the_host(addresses: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _answers(*addresses))

    def no_connection(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the guard connected to a host it should have refused")

    monkeypatch.setattr(socket, "create_connection", no_connection)
    with pytest.raises(RemoteJwksError) as refused:
        resolve_once(check_url("https://mixed.example/jwks"), allow_private=False)
    assert refused.value.reason == "host resolves to a non-public address"
    with pytest.raises(RemoteJwksError) as fetched:
        RemoteJwks().get("https://mixed.example/jwks")
    assert fetched.value.reason == "host resolves to a non-public address"


def test_all_public_addresses_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _answers(PUBLIC, "8.8.8.8"))
    assert str(resolve_once(check_url("https://public.example/jwks"), allow_private=False)) == PUBLIC
