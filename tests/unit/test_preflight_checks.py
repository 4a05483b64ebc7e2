"""Preflight checks: each bad input is a PreflightError with one line naming it; good input passes."""

from __future__ import annotations

import os
import socket

import pytest

from actors.app.paper import ephemeral_credentials
from actors.app.preflight import (
    PreflightError,
    check_credentials,
    check_data_dir,
    check_duration,
    check_output_file,
    check_port,
    check_report_path,
)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


@pytest.mark.parametrize("seconds", [None, 0.1, 60.0, 1e9])
def test_durations_that_pass(seconds):
    check_duration(seconds)


@pytest.mark.parametrize("seconds,needle", [
    (float("inf"), "finite"), (float("-inf"), "finite"), (float("nan"), "finite"),
    (0.0, "positive"), (-5.0, "positive"),
])
def test_durations_that_fail_name_the_flag(seconds, needle):
    with pytest.raises(PreflightError) as exc:
        check_duration(seconds, "run.duration_s")
    assert one_line(exc).startswith("run.duration_s must be") and needle in str(exc.value)


def test_report_path_in_an_existing_folder_passes(tmp_path):
    check_report_path(None)
    check_report_path(str(tmp_path / "report.json"))
    (tmp_path / "old.json").write_text("{}")
    check_report_path(tmp_path / "old.json")  # overwritten at the end


def test_report_path_whose_folder_is_missing_or_a_file_or_itself_a_directory(tmp_path):
    with pytest.raises(PreflightError) as exc:
        check_report_path("/nonexistent/x.json")
    assert one_line(exc) == "--report-json /nonexistent/x.json: folder /nonexistent does not exist"
    (tmp_path / "file").write_text("")
    with pytest.raises(PreflightError) as exc:
        check_report_path(str(tmp_path / "file" / "x.json"))
    assert "is not a directory" in one_line(exc)
    with pytest.raises(PreflightError) as exc:
        check_output_file(str(tmp_path), "--out")
    assert one_line(exc) == f"--out {tmp_path} is a directory, not a file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any mode bits")
def test_report_path_in_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    try:
        with pytest.raises(PreflightError) as exc:
            check_report_path(str(folder / "x.json"))
        assert "not writable" in one_line(exc)
    finally:
        folder.chmod(0o700)


def test_port_zero_and_a_free_port_pass():
    check_port(0)
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port(port)


@pytest.mark.parametrize("port", [-1, 65536, 70000])
def test_port_out_of_range(port):
    with pytest.raises(PreflightError) as exc:
        check_port(port)
    assert one_line(exc) == f"--port must be 0..65535, got {port}"


def test_port_in_use_is_refused_like_the_server_would():
    with socket.create_server(("127.0.0.1", 0)) as held:  # how the exchange binds
        port = held.getsockname()[1]
        with pytest.raises(PreflightError) as exc:
            check_port(port, flag="--exchange-port")
    assert one_line(exc) == f"--exchange-port {port} is already in use on 127.0.0.1"


def test_data_dir_is_created_private(tmp_path):
    path = check_data_dir(tmp_path / "new" / "data")
    assert path.is_dir() and (path.stat().st_mode & 0o777) == 0o700
    assert list(path.iterdir()) == []  # the write probe is gone


@pytest.mark.parametrize("where,needle", [
    ("file", "exists and is not a directory"),
    ("/proc/perpsbot", "kernel file system (proc)"),
    ("/sys/perpsbot", "kernel file system (sys)"),
    ("/dev/perpsbot", "kernel file system (dev)"),
])
def test_data_dirs_that_cannot_be_used(tmp_path, where, needle):
    (tmp_path / "file").write_text("")
    path = tmp_path / where if where == "file" else where
    with pytest.raises(PreflightError) as exc:
        check_data_dir(path)
    assert one_line(exc).startswith("data dir ") and needle in str(exc.value)


def test_credentials_that_sign_pass_and_none_is_fine():
    check_credentials(None)
    check_credentials(ephemeral_credentials())


def test_credentials_that_cannot_sign_name_the_key_not_its_material():
    class Broken:
        key_name = "organizations/o/apiKeys/k1"

        def make_jwt(self, now, uri=None):
            raise ValueError("-----BEGIN EC PRIVATE KEY----- secret")

    with pytest.raises(PreflightError) as exc:
        check_credentials(Broken())
    text = one_line(exc)
    assert "organizations/o/apiKeys/k1" in text and "ValueError" in text
    assert "secret" not in text and "BEGIN" not in text
