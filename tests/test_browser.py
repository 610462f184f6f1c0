"""Every page of the built book in headless Chromium, as a reader would open it from a web server.

Checks, on every page: every image loaded; every internal link points at a file of the book and every #anchor at an
element of its page; no request leaves the local server (no CDN script, style or font); no script error. Saves
one full-page screenshot per page in artifacts/screenshots/ (git-ignored) for a person to look at.
"""
from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
# Debian's package installs /usr/bin/chromium; `.ci/run` installs it when no browser is found.
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]  # the last: small /dev/shm in containers

# Run in the page once it has loaded: wait for MathJax and for every image, then report what the checks need.
INSPECT = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done); img.addEventListener("error", done); setTimeout(done, 10000);
  })));
  return {
    images: images.map(img => ({src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth})),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    ids: Array.from(document.querySelectorAll("[id], a[name]")).map(e => e.id || e.getAttribute("name")),
  };
}"""


def find_chromium() -> str | None:
    """$PRUNINGLIB_CHROMIUM, else the first of :data:`BROWSERS` on PATH."""
    if os.environ.get("PRUNINGLIB_CHROMIUM"):
        return os.environ["PRUNINGLIB_CHROMIUM"]
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def server(built_book: Path) -> Iterator[str]:
    """The built book served over HTTP on the loopback interface (a free port); yields its base URL."""
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None: ...

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(built_book)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def visits(built_book: Path, server: str) -> dict[str, dict]:
    """Open every page once; per page (path relative to the HTML folder) what INSPECT returned, plus the requests
    that were blocked because they went to another host and the script errors."""
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(f"no Chromium browser found (looked for $PRUNINGLIB_CHROMIUM and {', '.join(BROWSERS)} on "
                    f"PATH); install one with `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    pages = sorted(p.relative_to(built_book).as_posix() for p in built_book.rglob("*.html")
                   if p.relative_to(built_book).parts[0] not in ("_static", "_sources"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    out: dict[str, dict] = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        blocked: list[str] = []

        def only_local(route, request) -> None:  # type: ignore[no-untyped-def]
            if request.url.startswith(server):
                route.continue_()
            else:
                blocked.append(request.url)
                route.abort()

        context.route("**/*", only_local)
        for name in pages:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            blocked.clear()
            page.goto(server + name, wait_until="networkidle")
            found = page.evaluate(INSPECT)
            page.screenshot(path=str(SCREENSHOTS / (name.replace("/", "__").removesuffix(".html") + ".png")),
                            full_page=True)
            out[name] = {**found, "blocked": list(blocked), "errors": errors}
            page.close()
        browser.close()
    return out


def test_every_page_was_opened(built_book: Path, visits: dict[str, dict]) -> None:
    assert {"index.html", "intro.html", "glossary.html", "references.html", "chapters/mlp_mnist.html"} <= set(visits)
    assert len(list(SCREENSHOTS.glob("*.png"))) == len(visits)


def test_every_image_loaded(visits: dict[str, dict]) -> None:
    broken = {name: [i["src"] for i in v["images"] if not (i["complete"] and i["width"] > 0)]
              for name, v in visits.items()}
    assert {k: v for k, v in broken.items() if v} == {}
    assert len(visits["chapters/mlp_mnist.html"]["images"]) >= 4  # the chapter's figures


def test_no_request_leaves_the_site_and_no_script_fails(visits: dict[str, dict]) -> None:
    assert {name: v["blocked"] for name, v in visits.items() if v["blocked"]} == {}
    assert {name: v["errors"] for name, v in visits.items() if v["errors"]} == {}


def test_every_internal_link_and_anchor_resolves(built_book: Path, server: str, visits: dict[str, dict]) -> None:
    broken = []
    for name, v in visits.items():
        for url in v["links"]:
            if not url.startswith(server):
                continue  # another site (Binder, Colab, the repository, DOIs): not fetched by a test
            parts = urlsplit(url[len(server):])
            target = unquote(parts.path) or name
            if target.endswith("/") or not target:
                target += "index.html"
            if not (built_book / target).is_file():
                broken.append(f"{name}: {url} (no file {target})")
            elif parts.fragment and target in visits and unquote(parts.fragment) not in visits[target]["ids"]:
                broken.append(f"{name}: {url} (no id {parts.fragment!r} in {target})")
    assert broken == []
