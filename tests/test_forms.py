"""Forms and JSON: Request(formdata=...), Request(json=...) and response.form_request()."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest
from aiohttp import web

from crawler.api.request import Request
from crawler.api.response import Response
from tests.support import Project, serve_app

LOGIN_PAGE = """<html><body>
<form id="search" action="/search"><input name="q" value="shoes"></form>
<form id="login" action="/session" method="post">
  <input type="hidden" name="token" value="t0k3n">
  <input name="user" value="">
  <input type="checkbox" name="remember" value="yes" checked>
  <input type="checkbox" name="spam" value="yes">
  <select name="lang"><option value="en">en</option><option value="de" selected>de</option></select>
  <textarea name="note">hi</textarea>
  <input type="submit" name="go" value="Sign in"><input type="submit" name="other" value="No">
</form></body></html>"""


def page(html: str, url: str = "http://shop.test/account/login") -> Response:
    headers = [("Content-Type", "text/html; charset=utf-8")]
    return Response(url, 200, headers, html.encode(), Request(url))


def test_formdata_is_urlencoded_into_a_post_body() -> None:
    request = Request("http://a.test/s", formdata={"q": "blue shoes", "tag": ["a", "b"]})
    assert request.method == "POST" and request.url == "http://a.test/s"
    assert request.headers == {"Content-Type": "application/x-www-form-urlencoded"}
    assert parse_qsl(request.body.decode()) == [("q", "blue shoes"), ("tag", "a"), ("tag", "b")]


def test_formdata_of_a_get_replaces_the_query_string() -> None:
    request = Request("http://a.test/s?old=1#top", method="get", formdata=[("q", "x y")])
    assert (request.method, request.url, request.body) == ("GET", "http://a.test/s?q=x+y", b"")


def test_json_body_with_sorted_keys_and_json_headers() -> None:
    request = Request("http://a.test/api", json={"b": [1, 2], "a": "é"})
    assert request.method == "POST" and json.loads(request.body) == {"a": "é", "b": [1, 2]}
    assert request.body == '{"a": "é", "b": [1, 2]}'.encode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"].startswith("application/json")
    own = Request("http://a.test/api", json=[], headers={"content-type": "text/plain"}).headers
    assert own == {"content-type": "text/plain", "Accept": own["Accept"]}


def test_only_one_of_body_formdata_and_json() -> None:
    with pytest.raises(ValueError, match="only one of body, formdata and json"):
        Request("http://a.test/", body=b"x", json={})
    with pytest.raises(ValueError, match="only one of body, formdata and json"):
        Request("http://a.test/", formdata={}, json={})


def test_form_request_keeps_the_fields_a_browser_would_send() -> None:
    request = page(LOGIN_PAGE).form_request(
        {"user": "ann", "note": None}, css="#login", callback="parse"
    )
    assert (request.method, request.url) == ("POST", "http://shop.test/session")
    fields = parse_qsl(request.body.decode(), keep_blank_values=True)
    assert fields == [
        ("token", "t0k3n"),
        ("remember", "yes"),
        ("lang", "de"),
        ("go", "Sign in"),
        ("user", "ann"),
    ]


def test_form_request_picks_forms_by_index_and_may_not_click() -> None:
    search = page(LOGIN_PAGE).form_request({"q": "hats"})
    assert (search.method, search.url, search.body) == (
        "GET",
        "http://shop.test/search?q=hats",
        b"",
    )
    login = page(LOGIN_PAGE).form_request(index=-1, click=False)
    assert "go" not in dict(parse_qsl(login.body.decode()))
    no_action = page('<form method="post"><input name="a" value="1"></form>').form_request()
    assert no_action.url == "http://shop.test/account/login" and no_action.body == b"a=1"


def test_form_request_says_what_is_missing() -> None:
    with pytest.raises(ValueError, match=r"no <form> matches .#nope. on http://shop\.test/"):
        page(LOGIN_PAGE).form_request(css="#nope")
    with pytest.raises(ValueError, match=r"no form 5 on http://shop\.test/account/login: it has 2"):
        page(LOGIN_PAGE).form_request(index=5)


def login_app(posted: list[dict[str, str]]) -> web.Application:
    async def login(request: web.Request) -> web.Response:
        return web.Response(text=LOGIN_PAGE, content_type="text/html")

    async def session(request: web.Request) -> web.Response:
        form = dict(await request.post())
        posted.append({key: str(value) for key, value in form.items()})
        if form.get("token") != "t0k3n":
            return web.Response(status=403)
        response = web.Response(text="<p>welcome</p>", content_type="text/html")
        response.set_cookie("session", str(form["user"]))
        return response

    async def api(request: web.Request) -> web.Response:
        body = await request.json()
        user = request.cookies.get("session", "")
        return web.json_response({"user": user, "asked": body["ask"]})

    app = web.Application()
    app.router.add_get("/account/login", login)
    app.router.add_post("/session", session)
    app.router.add_post("/api", api)
    return app


LOGIN_SPIDER = """
    from crawler import Request, Spider

    class Login(Spider):
        name = "login"
        start_urls = ["BASEaccount/login"]
        custom_settings = {"downloader.obey_robots": False}

        def parse(self, response):
            yield response.form_request({"user": "ann"}, css="#login", callback=self.logged_in)

        def logged_in(self, response):
            yield Request("BASEapi", json={"ask": "orders"}, callback=self.api)

        def api(self, response):
            yield response.json()
"""


def test_a_login_form_then_a_json_api_end_to_end(project: Project) -> None:
    posted: list[dict[str, str]] = []
    with serve_app(login_app(posted)) as url:
        project.add_spider("login", LOGIN_SPIDER.replace("BASE", url))
        result = project.run("crawl", "login")
    assert result.returncode == 0, result.stderr
    assert posted == [
        {
            "token": "t0k3n",
            "remember": "yes",
            "lang": "de",
            "note": "hi",
            "go": "Sign in",
            "user": "ann",
        }
    ]
    assert project.items("login") == [{"user": "ann", "asked": "orders"}]
