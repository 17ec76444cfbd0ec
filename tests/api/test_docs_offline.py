"""/docs and /redoc work with no network: every script, style sheet and icon they load is served here."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app


class _Refs(HTMLParser):
    """Every URL a page's tags load (src, href); the OpenAPI URL is checked in the inline script's text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def _refs(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


@pytest.mark.parametrize("page, assets", [
    ("/docs", {"swagger-ui-bundle.js": "javascript", "swagger-ui.css": "css", "favicon.png": "image/png"}),
    ("/redoc", {"redoc.standalone.js": "javascript", "favicon.png": "image/png"}),
])
def test_docs_pages_load_only_local_assets(client, page, assets):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = _refs(r.text)
    assert refs.urls, r.text
    assert not [u for u in refs.urls if "://" in u or u.startswith("//")], refs.urls
    assert "cdn.jsdelivr" not in r.text and "fonts.googleapis" not in r.text and "unpkg" not in r.text
    assert "'/openapi.json'" in r.text or '"/openapi.json"' in r.text
    served = {}
    for url in refs.urls:
        assert url.startswith("/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        served[url.rsplit("/", 1)[-1]] = asset
    assert set(served) == set(assets)
    for name, kind in assets.items():
        assert kind in served[name].headers["content-type"], (name, served[name].headers["content-type"])
        assert len(served[name].content) > (20_000 if name.endswith(".js") else 100), name
    assert client.get("/openapi.json").json()["info"]["title"] == "zk-pipeline API"


def test_swagger_bundle_is_the_real_one(client):
    bundle = client.get(_asset(client, "/docs", "swagger-ui-bundle.js")).text
    assert "SwaggerUIBundle" in bundle and len(bundle) > 500_000
    redoc = client.get(_asset(client, "/redoc", "redoc.standalone.js")).text
    assert "Redoc" in redoc and len(redoc) > 500_000


def _asset(client, page: str, name: str) -> str:
    return next(u for u in _refs(client.get(page).text).urls if u.endswith("/" + name))


def test_docs_over_real_http(live_server):
    host, port = live_server
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=10) as http:
        for page in ("/docs", "/redoc"):
            for url in _refs(http.get(page).text).urls:
                assert http.get(url).status_code == 200, url


def test_an_unknown_asset_is_404(client):
    base = _asset(client, "/docs", "swagger-ui.css").rsplit("/", 1)[0]
    assert client.get(base + "/no-such-file.js").status_code == 404
    assert client.get(base + "/../../api/main.py").status_code == 404
