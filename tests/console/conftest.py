"""Browser fixtures: a headless Chromium (never downloaded; the tests skip when it is absent) driving
the console of a real Credo server, signed in as an administrator."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from credo.management.admins import create_admin
from tests.support import LiveServer

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
ADMIN, PASSWORD = "console-admin", "console-admin-password"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def watch(page: Any) -> list[str]:
    """The page's script errors and Content-Security-Policy violations, collected as they happen (a 4xx
    answer is expected by some tests and not collected)."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" and "status of 4" not in msg.text
            else None)
    return problems


@dataclass
class Console:
    page: Any
    server: LiveServer

    def go(self, path: str) -> None:
        self.page.goto(self.server.base_url + path)

    def follow(self, selector: str) -> None:
        """Click a link or submit button and wait until the page it leads to has loaded: a click returns
        once the navigation has begun, and a page still arriving has no rows to read yet."""
        with self.page.expect_navigation(wait_until="load"):
            self.page.click(selector)

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def paste(self, selector: str, text: str) -> None:
        """Replace the text of the element at `selector` by pasting `text` from the clipboard, as a person
        would (Ctrl+A, Ctrl+V): the script editor takes pasted code whole, newlines included."""
        self.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=self.server.base_url)
        self.page.evaluate("text => navigator.clipboard.writeText(text)", text)
        self.page.click(selector)
        self.page.keyboard.press("Control+A")
        self.page.keyboard.press("Control+V")

    def notice(self) -> str:
        try:  # the page after a form's redirect may still be loading on a busy machine
            found = self.page.wait_for_selector(".notice, .err, .alert", timeout=10_000)
        except Exception:  # reported below with the page's errors
            found = None
        found = self.page.query_selector(".notice") if found is not None else None
        if found is None:
            self.shot("failed-" + self.page.url.rsplit("/", 1)[-1].split("?")[0])
            errors = [e.inner_text() for e in self.page.query_selector_all(".err, .alert")]
            raise AssertionError(f"no notice on {self.page.url}; errors: {errors}")
        return str(found.inner_text())


# A live server: the console is driven by a real browser.
@pytest.fixture
def console(browser: Any, live_sqlite_server: LiveServer) -> Iterator[Console]:
    create_admin(live_sqlite_server.services, ADMIN, PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems = watch(page)
    c = Console(page, live_sqlite_server)
    c.go("/admin")
    assert "/admin/login" in page.url
    c.shot("00-sign-in")
    page.fill("#f-username", ADMIN)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/r/*/overview")
    yield c
    context.close()
    assert problems == [], problems
