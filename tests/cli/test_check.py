"""`credo check` on good and bad production configurations: exit status and what it says to fix. The
database checks use the real PostgreSQL (a migrated database, an empty one, a port nobody listens on)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credo.cli.check import check_workers
from credo.cli.main import app
from tests import support

GOOD = {"CREDO_PUBLIC_URL": "https://id.example.com", "CREDO_MASTER_KEY": support.MASTER_KEY}


@pytest.fixture
def migrated_pg() -> Iterator[str]:
    if (reason := support.postgres_reachable()) is not None:
        pytest.skip(reason)
    with support.migrated_postgres_database() as url:
        yield url


def check(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    for name in ("CREDO_PUBLIC_URL", "CREDO_MASTER_KEY", "CREDO_DATABASE_URL", "CREDO_METRICS_PATH",
                 "CREDO_METRICS_ALLOW"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CREDO_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .env of the working tree
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["check", *args])
    return result.exit_code, result.output


def line(output: str, what: str) -> str:
    return next(x for x in output.splitlines() if x.split(":")[0].split(None, 1)[-1] == what)


@pytest.mark.postgres
def test_a_good_configuration_passes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, migrated_pg: str) -> None:
    code, out = check(monkeypatch, tmp_path, {**GOOD, "CREDO_DATABASE_URL": migrated_pg},
                      "--proxy-headers", "--forwarded-allow-ips", "10.0.0.5", "--workers", "1")
    assert code == 0, out
    assert out.splitlines()[-1] == "ready for production"
    assert all(x.startswith("ok") for x in out.splitlines()[:-1]), out
    assert line(out, "database").endswith("reachable, at head")


@pytest.mark.postgres
def test_every_bad_setting_is_named_with_its_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out = check(monkeypatch, tmp_path, {"CREDO_PUBLIC_URL": "http://127.0.0.1:8080"},
                      "--forwarded-allow-ips", "10.0.0.5", "--workers", "64")
    assert code == 1, out
    assert line(out, "public URL").startswith("FAIL") and "is not https" in out
    assert line(out, "master key").startswith("FAIL") and "Set CREDO_MASTER_KEY" in out
    assert str(tmp_path / "master.key") in out  # where the key would be read from
    assert line(out, "database").startswith("FAIL") and "is SQLite" in out
    assert line(out, "proxy").startswith("FAIL") and "Add --proxy-headers" in out
    assert line(out, "workers").startswith("FAIL") and "--workers 64" in out
    assert out.splitlines()[-1] == "5 to fix, 0 to look at"


@pytest.mark.postgres
def test_postgresql_unreachable_or_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if (reason := support.postgres_reachable()) is not None:
        pytest.skip(reason)
    stopped = f"postgresql://postgres@127.0.0.1:{support.free_port()}/credo"  # nobody listens there
    code, out = check(monkeypatch, tmp_path, {**GOOD, "CREDO_DATABASE_URL": stopped})
    assert code == 1 and "does not answer" in line(out, "database"), out
    with support.postgres_database() as empty:  # reachable, never migrated
        code, out = check(monkeypatch, tmp_path, {**GOOD, "CREDO_DATABASE_URL": empty})
    assert code == 1 and "credo db upgrade" in line(out, "database"), out
    secret_url = stopped.replace("postgres@", "postgres:hunter2-password@")
    code, out = check(monkeypatch, tmp_path, {**GOOD, "CREDO_DATABASE_URL": secret_url})
    assert "hunter2" not in out and "***" in out


@pytest.mark.postgres
@pytest.mark.parametrize("args, expected", [
    (("--proxy-headers",), "without --forwarded-allow-ips"),
    (("--proxy-headers", "--forwarded-allow-ips", "0.0.0.0/0"), "trusts every address"),
    (("--proxy-headers", "--forwarded-allow-ips", "not-an-address"), "no address or network"),
])
def test_incoherent_proxy_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, migrated_pg: str,
                                  args: tuple[str, ...], expected: str) -> None:
    code, out = check(monkeypatch, tmp_path, {**GOOD, "CREDO_DATABASE_URL": migrated_pg}, *args)
    assert code == 1 and line(out, "proxy").startswith("FAIL") and expected in out, out


@pytest.mark.postgres
def test_https_without_proxy_headers_is_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  migrated_pg: str) -> None:
    code, out = check(monkeypatch, tmp_path, {**GOOD, "CREDO_DATABASE_URL": migrated_pg})
    assert code == 0, out
    assert line(out, "proxy").startswith("warn") and "count all clients as one" in out
    assert line(out, "metrics").startswith("warn")
    assert out.splitlines()[-1] == "0 to fix, 2 to look at"


def test_an_invalid_setting_exits_2(tmp_path: Path) -> None:
    from tests.procs import run_cli

    done = run_cli(tmp_path, "check", CREDO_METRICS_PATH="/admin/metrics")
    assert done.returncode == 2 and "metrics_path" in done.stderr


def test_workers_against_cores() -> None:
    assert check_workers(2, 2).level == "ok"
    assert check_workers(3, 2).level == "FAIL" and "--workers 2 or fewer" in check_workers(3, 2).message


def test_serve_removes_the_metrics_directories_of_killed_servers(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import tempfile

    from credo.cli.main import remove_stale_metrics_dirs

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead = tmp_path / f"credo-metrics-{gone.stdout.strip()}-abc"
    live = tmp_path / f"credo-metrics-{os.getpid()}-def"
    other = tmp_path / "credo-metrics-notapid-x"
    for path in (dead, live, other):
        path.mkdir()
    remove_stale_metrics_dirs()
    assert not dead.exists() and live.exists() and other.exists()
