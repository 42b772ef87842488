"""The master key's sources: CREDO_MASTER_KEY, CREDO_MASTER_KEY_FILE (a secret manager's mount), both only
when they agree, never a short key, never a generated one for a shared database; and the same for
CREDO_MASTER_KEY_PREVIOUS."""

from __future__ import annotations

from pathlib import Path

import pytest

from credo.settings import Settings

KEY = "k" * 40
OTHER = "o" * 40


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(**{"data_dir": tmp_path, "_env_file": None, **values})


def test_from_the_environment(tmp_path: Path) -> None:
    assert _settings(tmp_path, master_key=KEY).resolved_master_key() == KEY.encode()


def test_from_a_file_whitespace_around_ignored(tmp_path: Path) -> None:
    path = tmp_path / "mk"
    path.write_text(KEY + "\n")
    assert _settings(tmp_path, master_key_file=path).resolved_master_key() == KEY.encode()
    assert not (tmp_path / "master.key").exists()  # nothing generated


def test_both_set_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "mk"
    path.write_text(KEY)
    assert _settings(tmp_path, master_key=KEY, master_key_file=path).resolved_master_key() == KEY.encode()
    with pytest.raises(ValueError, match="both set and hold different keys"):
        _settings(tmp_path, master_key=OTHER, master_key_file=path).resolved_master_key()


@pytest.mark.parametrize("source", ["env", "file"])
def test_short_keys_refused(tmp_path: Path, source: str) -> None:
    short = "s" * 31
    path = tmp_path / "mk"
    path.write_text(short)
    values = {"master_key": short} if source == "env" else {"master_key_file": path}
    with pytest.raises(ValueError, match="at least 32 characters"):
        _settings(tmp_path, **values).resolved_master_key()
    path.write_text("s" * 32)
    values = {"master_key": "s" * 32} if source == "env" else {"master_key_file": path}
    assert _settings(tmp_path, **values).resolved_master_key() == b"s" * 32


def test_missing_or_empty_file_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CREDO_MASTER_KEY_FILE: cannot read"):
        _settings(tmp_path, master_key_file=tmp_path / "absent").resolved_master_key()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        _settings(tmp_path, master_key_file=tmp_path / "empty").resolved_master_key()


def test_generated_only_for_sqlite(tmp_path: Path) -> None:
    first = _settings(tmp_path).resolved_master_key()
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    assert _settings(tmp_path).resolved_master_key() == first  # generated once
    with pytest.raises(ValueError, match="set CREDO_MASTER_KEY or CREDO_MASTER_KEY_FILE"):
        _settings(tmp_path / "pg", database_url="postgresql://postgres@127.0.0.1/x").resolved_master_key()
    assert not (tmp_path / "pg").exists()


def test_previous_key(tmp_path: Path) -> None:
    assert _settings(tmp_path, master_key=KEY).resolved_previous_master_key() is None
    path = tmp_path / "prev"
    path.write_text(OTHER)
    assert _settings(tmp_path, master_key=KEY, master_key_previous_file=path).resolved_previous_master_key() \
        == OTHER.encode()
    with pytest.raises(ValueError, match="CREDO_MASTER_KEY_PREVIOUS must have at least 32"):
        _settings(tmp_path, master_key=KEY, master_key_previous="short").resolved_previous_master_key()


def test_environment_variable_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mk"
    path.write_text(KEY)
    monkeypatch.setenv("CREDO_MASTER_KEY_FILE", str(path))
    monkeypatch.setenv("CREDO_MASTER_KEY_PREVIOUS", OTHER)
    monkeypatch.delenv("CREDO_MASTER_KEY", raising=False)
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert (settings.resolved_master_key(), settings.resolved_previous_master_key()) == (KEY.encode(), OTHER.encode())
