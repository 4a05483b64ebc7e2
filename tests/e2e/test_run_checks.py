"""`perpsbot run` refuses bad starts with one line and exit 2, before any connection: the latch
against Coinbase production without --live, no or unusable credentials, and every bad input.
A guard on the socket module proves no connection was even attempted."""

from __future__ import annotations

import socket

import pytest

from actors.app.cli import main
from actors.venue.coinbase_auth import new_key_file

LOCAL = ["--rest-url", "http://127.0.0.1:9", "--ws-url", "ws://127.0.0.1:9", "--user-ws-url", "ws://127.0.0.1:9/user"]


@pytest.fixture
def no_sockets(monkeypatch):
    """Every attempt to connect or bind is recorded and refused."""
    attempts: list[tuple] = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(("socket", address))
        raise AssertionError(f"a socket was opened to {address}")

    def create_connection(address, *args, **kwargs):
        attempts.append(("create_connection", address))
        raise AssertionError(f"a connection was opened to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    for name in ("COINBASE_API_KEY_NAME", "COINBASE_API_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    return attempts


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "key.json"
    new_key_file(path)
    return str(path)


def refused(capsys, argv: list[str]) -> str:
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("perpsbot: error:"), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


def test_production_without_live_is_refused_before_any_connection(no_sockets, capsys, key_file, tmp_path):
    line = refused(capsys, ["run", "--data-dir", str(tmp_path / "d"), "--key-file", key_file])
    assert "--live" in line and "production" in line
    assert no_sockets == [] and not (tmp_path / "d").exists()


def test_one_production_url_is_enough_to_need_the_latch(no_sockets, capsys, key_file, tmp_path):
    line = refused(capsys, ["run", "--data-dir", str(tmp_path / "d"), "--key-file", key_file,
                            "--rest-url", "http://127.0.0.1:9", "--ws-url", "ws://127.0.0.1:9"])
    assert "--user-ws-url" in line and "--live" in line
    assert no_sockets == []


def test_no_credentials_is_refused_before_any_connection(no_sockets, capsys, tmp_path):
    line = refused(capsys, ["run", "--data-dir", str(tmp_path / "d"), *LOCAL])
    assert "key" in line
    line = refused(capsys, ["run", "--data-dir", str(tmp_path / "d"), "--live"])  # production, latched open
    assert "COINBASE_API_KEY_NAME" in line
    assert no_sockets == []


def test_an_unreadable_key_file_is_one_line(no_sockets, capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    line = refused(capsys, ["run", "--data-dir", str(tmp_path / "d"), "--key-file", str(bad), *LOCAL])
    assert "bad.json" in line
    assert no_sockets == []


@pytest.mark.parametrize("extra, says", [
    (["--duration", "inf"], "--duration"),
    (["--duration", "nan"], "--duration"),
    (["--duration", "0"], "--duration"),
    (["--report-json", "/nonexistent-folder/report.json"], "--report-json"),
    (["--products", "NOPE-USD"], "NOPE-USD"),
    (["--rest-url", "ftp://127.0.0.1:9"], "--rest-url"),
    (["--ws-url", "ws://127.0.0.1:99999"], "--ws-url"),
])
def test_bad_inputs_are_refused_before_any_connection(no_sockets, capsys, key_file, tmp_path, extra, says):
    line = refused(capsys, ["run", "--data-dir", str(tmp_path / "d"), "--key-file", key_file, *LOCAL, *extra])
    assert says in line
    assert no_sockets == []


def test_bad_data_dirs_are_refused_before_any_connection(no_sockets, capsys, key_file, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    assert "not a directory" in refused(capsys, ["run", "--data-dir", str(a_file), "--key-file", key_file, *LOCAL])
    assert "kernel file system" in refused(capsys, ["run", "--data-dir", "/proc/perpsbot", "--key-file", key_file,
                                                     *LOCAL])
    assert no_sockets == []
