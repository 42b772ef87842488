"""`credo serve --demo`: set up the demo realms and print their credentials, the same on every start.

The server stores only hashes of the demo secrets. The values printed are kept in the data directory, in
`demo-credentials.json`, readable by its owner only (like `master.key`), so a restart prints the same
working credentials; a saved value that no longer works (changed since, or the file is gone) is replaced
by a new one, and the start-up says so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from credo.management.agent_demo import ensure_agent_demo
from credo.management.demo import DemoCredentials, Saved, ensure_demo
from credo.oauth.services import Services

FILE = "demo-credentials.json"


def load(path: Path) -> Saved:
    """The saved credentials ({} when there are none or the file is not ours to trust); the file is made
    owner-only if it was not."""
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def save(path: Path, saved: Saved) -> None:
    """Write the credentials owner-only (0600), replacing the file in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(saved, f, indent=2, sort_keys=True)
    os.replace(temporary, path)


def set_up(services: Services, data_dir: Path, public_url: str) -> None:
    """Create (or keep) the demo and print its realms and credentials."""
    path = data_dir / FILE
    saved = load(path)
    creds = ensure_demo(services, saved) + ensure_agent_demo(services, saved)
    save(path, saved)
    realms = f"{public_url}/am/oauth2/realms/root/realms"
    base = f"{realms}/alpha"
    typer.echo("\nCredo demo is ready.\n")
    typer.echo(f"  Realm alpha:   {base}")
    typer.echo(f"  Realm bravo:   {realms}/bravo")
    typer.echo(f"  Discovery:     {base}/.well-known/openid-configuration")
    typer.echo(f"  Register:      {base}/register   (open dynamic registration is on)")
    for c in creds:
        typer.echo(credentials_line(c))
    typer.echo(f"  Saved in:      {path.resolve()} (owner-only): a restart prints these same credentials.")
    renewed = [c.client_id for c in creds if c.state == "renewed"]
    if renewed:
        typer.echo(f"\n  NOTE: new secrets for {', '.join(renewed)}: the saved ones were missing or no longer worked "
                   "(changed since the last start); the values above replace them.")
    typer.echo("\n  Try:")
    c = creds[0]
    typer.echo(f"    curl -s -X POST '{base}/access_token' -d grant_type=client_credentials "
               f"-d client_id={c.client_id} -d client_secret={c.client_secret} -d scope=data-read\n")


def credentials_line(c: DemoCredentials) -> str:
    if c.kind == "user":
        return f"  User:          username={c.client_id}  password={c.client_secret}  ({c.description})"
    return f"  Client:        client_id={c.client_id}  client_secret={c.client_secret}  ({c.description})"
