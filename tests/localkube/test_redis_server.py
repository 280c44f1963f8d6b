"""The real Redis server the router's shared-state tests run against."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis

from gptoss_localkube.redis_server import RedisNotReady, RedisServer


def _client(server: RedisServer, password: str | None) -> redis.Redis:
    return redis.Redis.from_url(server.url, password=password, socket_timeout=5)


def test_the_binary_is_the_real_redis_server(redis_bin: Path) -> None:
    version = subprocess.run(
        [str(redis_bin), "--version"], check=True, capture_output=True, text=True
    ).stdout
    assert version.startswith("Redis server v=")
    major = int(version.split("v=", 1)[1].split(".", 1)[0])
    assert major >= 7


def test_it_answers_with_the_password(redis_server: RedisServer) -> None:
    client = _client(redis_server, redis_server.password)
    assert client.ping()
    client.set("greeting", "hello")
    assert client.get("greeting") == b"hello"
    assert client.info("server")["redis_version"].startswith(("7.", "8.", "9."))
    client.close()


def test_it_refuses_without_the_password_or_with_a_wrong_one(redis_server: RedisServer) -> None:
    with pytest.raises(redis.AuthenticationError):
        _client(redis_server, None).ping()
    with pytest.raises(redis.AuthenticationError):
        _client(redis_server, "not-the-password").ping()


def test_the_url_names_the_loopback_port_but_not_the_password(redis_server: RedisServer) -> None:
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.password not in redis_server.url
    assert redis_server.host == "127.0.0.1"


def test_nothing_is_persisted_by_default(redis_server: RedisServer) -> None:
    client = _client(redis_server, redis_server.password)
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("appendonly") == {"appendonly": "no"}
    client.close()


def test_a_killed_server_comes_back_on_the_same_port_with_the_same_password(
    redis_server: RedisServer,
) -> None:
    client = _client(redis_server, redis_server.password)
    client.set("counter", 1)
    port, first_pid = redis_server.port, redis_server.pid

    redis_server.kill()
    assert not redis_server.running and redis_server.pid is None
    assert not redis_server.ping()
    with pytest.raises(redis.ConnectionError):
        client.get("counter")

    redis_server.start()
    assert redis_server.port == port and redis_server.pid not in (None, first_pid)
    assert client.ping()  # the same client reconnects
    assert client.get("counter") is None  # killed without persistence: an empty dataset
    client.close()


def test_a_persistent_server_keeps_its_data_across_a_kill(redis_bin: Path) -> None:
    with RedisServer(binary=redis_bin, persistence=True) as server:
        client = _client(server, server.password)
        client.set("kept", "yes")
        server.kill()
        server.start()
        assert client.get("kept") == b"yes"
        client.close()


def test_a_stopped_server_can_be_started_again(redis_server: RedisServer) -> None:
    redis_server.stop()
    assert not redis_server.running
    redis_server.start()
    assert redis_server.ping()


def test_a_given_port_and_password_are_used(redis_bin: Path) -> None:
    taken = RedisServer(binary=redis_bin)  # only to pick a free port
    taken.close()
    with RedisServer(binary=redis_bin, port=taken.port, password='p a"ss\\word') as server:
        assert server.port == taken.port
        assert _client(server, 'p a"ss\\word').ping()


def test_a_server_that_cannot_start_says_why(redis_bin: Path) -> None:
    server = RedisServer(binary=redis_bin, extra_config={"no-such-directive": "1"})
    with pytest.raises(RedisNotReady, match="no-such-directive"):
        server.__enter__()
    assert not server.directory.exists()
