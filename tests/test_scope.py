"""scope.py and session-parameter stripping: the link filters, without processes."""

from __future__ import annotations

from typing import Any

import pytest

from crawler.api.spider import Spider
from crawler.errors import SpiderError
from crawler.settings.schema import LimitSettings, ScopeSettings, Settings
from crawler.urls.fingerprint import canonical_url, fingerprint, strip_set
from crawler.urls.scope import Scope, has_repeated_segments, split_url

PARENT = "http://example.com/"


class Plain(Spider):
    name = "plain"


def scope(spider: Any = None, max_depth: int = 0, **values: Any) -> Scope:
    settings = Settings(scope=ScopeSettings(**values), limits=LimitSettings(max_depth=max_depth))
    return Scope(settings, spider if spider is not None else Plain())


def check(url: str, the_scope: Scope | None = None, private: bool = False) -> str | None:
    return (the_scope or scope()).check(url, 1, PARENT, private)


def test_plain_links_are_followed() -> None:
    assert check("http://example.com/a/b?x=1") is None
    assert check("https://www.example.com:8443/a/b/c.html#top") is None


def test_start_requests_are_never_filtered() -> None:
    tight = scope(max_depth=1, deny=["."], max_url_length=16)
    assert tight.check("http://127.0.0.1/a/a/a/a/a", 0, None) is None


def test_max_depth() -> None:
    limited = scope(max_depth=2)
    assert limited.check("http://e.com/", 2, PARENT) is None
    assert limited.check("http://e.com/", 3, PARENT) == "max_depth"
    assert scope().check("http://e.com/", 10_000, PARENT) is None  # 0: no limit


def test_offsite_admits_subdomains_only() -> None:
    class Site(Spider):
        name = "site"
        allowed_domains = ["Example.com", ".shop.test"]

    site = scope(Site())
    assert check("http://example.com/", site) is None
    assert check("http://WWW.example.com/", site) is None
    assert check("http://a.b.shop.test/", site) is None
    assert check("http://notexample.com/", site) == "offsite"
    assert check("http://example.com.evil.test/", site) == "offsite"
    assert check("http://user@other.test/", site) == "offsite"


def test_deny_wins_over_allow() -> None:
    rules = scope(allow=[r"/shop/"], deny=[r"/logout", r"\?sort="])
    assert check("http://e.com/shop/item", rules) is None
    assert check("http://e.com/blog/", rules) == "allow"
    assert check("http://e.com/shop/logout", rules) == "deny"
    assert check("http://e.com/shop/?sort=price", rules) == "deny"


def test_spider_patterns_add_to_the_settings() -> None:
    class Patterns(Spider):
        name = "patterns"
        allow = [r"/a/"]
        deny = [r"/a/private"]

    rules = scope(Patterns(), allow=[r"/b/"])
    assert check("http://e.com/a/1", rules) is None
    assert check("http://e.com/b/1", rules) is None
    assert check("http://e.com/c/1", rules) == "allow"
    assert check("http://e.com/a/private", rules) == "deny"


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("allow", "/a/", "allow must be a list of strings, not a str"),
        ("deny", [r"/a/", "("], "deny pattern '(' is not a valid regular expression"),
        ("deny", [3], "deny[0] must be a string, got int 3"),
        ("allowed_domains", "example.com", "allowed_domains must be a list of strings"),
    ],
)
def test_bad_spider_attributes_name_the_spider(attribute: str, value: Any, message: str) -> None:
    spider = Plain()
    setattr(spider, attribute, value)
    with pytest.raises(SpiderError) as raised:
        scope(spider)
    assert message in str(raised.value)
    assert "spider 'plain' (Plain)" in str(raised.value)


def test_url_length_and_query_params() -> None:
    rules = scope(max_url_length=40, max_query_params=3)
    assert check("http://e.com/?a=1&b=2&c=3", rules) is None
    assert check("http://e.com/?a=1&b=2&c=3&d=4", rules) == "query_params"
    assert check("http://e.com/?a=1&&b=2&c=3&", rules) is None  # empty pairs do not count
    assert check("http://e.com/" + "x" * 27, rules) is None  # 40 characters
    assert check("http://e.com/" + "x" * 28, rules) == "url_length"


def test_default_query_param_cap() -> None:
    many = "http://e.com/?" + "&".join(f"p{i}=1" for i in range(33))
    assert check(many) == "query_params"
    assert check(many, scope(max_query_params=0)) is None  # 0: no limit


@pytest.mark.parametrize(
    ("path", "trapped"),
    [
        ("/a/b/a/b/", False),
        ("/a/b/a/b/a/b/", True),
        ("/a/b/a/b/a/b", True),
        ("/a/a", False),
        ("/a/a/a", True),
        ("/x/a/b/c/a/b/c/a/b/c/y", True),
        ("/x/1/y/1/z/1/", False),  # repeats that are not back to back are fine
        ("/2024/01/01/01/", True),
        ("/", False),
        ("", False),
        ("/a//b", False),
    ],
)
def test_repeated_segments(path: str, trapped: bool) -> None:
    assert has_repeated_segments(path, 2) is trapped
    expected = "repeated_segments" if trapped else None
    assert check(f"http://e.com{path}") == expected


def test_repeated_segments_limit_is_a_setting() -> None:
    assert check("http://e.com/a/b/a/b/a/b/", scope(max_repeated_segments=3)) is None
    assert check("http://e.com/a/a/a/a/a/a", scope(max_repeated_segments=0)) is None


PRIVATE_LINKS = [
    "http://127.0.0.1:8080/",
    "http://10.1.2.3/",
    "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://2130706433/",
    "http://0x7f.0.0.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0/",
    "http://127.0.0.1./",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1%25eth0]/",
    "http://localhost/",
    "http://LOCALHOST:9000/",
    "http://api.localhost/",
    "http://%31%32%37.0.0.1/",
    "http://\u2460\u2461\u2466.0.0.1/",  # (1)(2)(7).0.0.1, read as 127.0.0.1 after NFKC
]


@pytest.mark.parametrize("url", PRIVATE_LINKS)
def test_private_links_from_public_pages_are_filtered(url: str) -> None:
    assert check(url) == "private_address"
    assert check(url, private=True) is None  # a private parent may link anywhere
    assert check(url, scope(private_networks=[])) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "http://1password.test/",
        "http://8.8.8.8/",
        "http://[2001:db8::1]/",
        "http://localhost.example.com/",
        "http://0x7f.example/",
    ],
)
def test_public_links_pass(url: str) -> None:
    assert check(url) is None


def test_private_networks_setting_decides() -> None:
    narrow = scope(private_networks=["127.0.0.2/32"])
    assert check("http://127.0.0.1/", narrow) is None
    assert check("http://127.0.0.2/", narrow) == "private_address"
    assert check("http://[::ffff:127.0.0.2]/", narrow) == "private_address"  # mapped
    assert check("http://localhost/", narrow) is None  # 127.0.0.1 and ::1 are public here


def test_start_requests_private_flag() -> None:
    default = scope()
    assert default.is_start_private("http://127.0.0.1:8000/")
    assert default.is_start_private("http://localhost/")
    assert default.is_start_private("http://[::1]/")
    assert not default.is_start_private("http://example.com/")
    assert not default.is_start_private("http://internal.test/")  # names: at connect time
    assert scope(allow_private=True).is_start_private("http://example.com/")
    assert not scope(private_networks=["127.0.0.2/32"]).is_start_private("http://127.0.0.1/")


@pytest.mark.parametrize(
    "url",
    [
        "http://a.com",
        "http://A.com:80/p/q?x=1&y#z?w",
        "https://a.com:8080/p;x=1?q#f",
        "http://u:p@a.com/x",
        "http://[::1]:80/p",
        "http://a.com/p?q?r",
        "HTTP://A.COM/P",
    ],
)
def test_split_url_agrees_with_urlsplit(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    assert split_url(url) == (parts.hostname or "", parts.path, parts.query)


# ---- session parameters -----------------------------------------------------------------

STRIP = strip_set(ScopeSettings().strip_params)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("http://e.com/p?sid=abc&b=1", "http://e.com/p?b=1"),
        ("http://e.com/p?b=1&SID=abc&PHPSESSID=x&JSessionId=y", "http://e.com/p?b=1"),
        ("http://e.com/p?sid=1", "http://e.com/p"),
        ("http://e.com/p;jsessionid=ABC123", "http://e.com/p"),
        ("http://e.com/p;JSESSIONID=ABC?x=1", "http://e.com/p?x=1"),
        ("http://e.com/a;jsessionid=1/b;v=2;sessionid=3", "http://e.com/a/b;v=2"),
        ("http://e.com/;jsessionid=1", "http://e.com/"),
        ("http://e.com/p?side=1&sids=2", "http://e.com/p?side=1&sids=2"),  # whole names only
        ("http://e.com/p;v=1?q=sid", "http://e.com/p;v=1?q=sid"),
    ],
)
def test_session_parameters_are_stripped(url: str, canonical: str) -> None:
    assert canonical_url(url, STRIP) == canonical


def test_session_ids_share_one_fingerprint() -> None:
    base = fingerprint("GET", "http://e.com/p?x=1", b"", STRIP)
    for url in [
        "http://e.com/p?x=1&sid=a1",
        "http://e.com/p?sid=b2&x=1",
        "http://e.com/p;jsessionid=c3?x=1",
        "http://e.com/p?x=1&PHPSESSID=d4",
    ]:
        assert fingerprint("GET", url, b"", STRIP) == base, url
    assert fingerprint("GET", "http://e.com/p?x=1&sid=a1") != base  # without the strip list


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "http://example.com/a?b=2&a=1",
        "http://e.com/?a=%FF",
        "http://e.com/p;v=1?q=a+b",
        "http://[::1]:8080/x",
    ],
)
def test_fingerprints_without_session_parameters_do_not_change(url: str) -> None:
    """Journals of earlier runs must still match: the strip list changes nothing else."""
    assert canonical_url(url, STRIP) == canonical_url(url)
    assert fingerprint("GET", url, b"", STRIP) == fingerprint("GET", url)
    assert fingerprint("GET", "HTTP://example.com", b"", STRIP) == 0x555B1B8CFB5E81F4
