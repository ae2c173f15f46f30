"""crawler.settings: loading settings.toml, -s overrides and custom_settings, and every error."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from crawler import settings as settings_module
from crawler.errors import SettingsError, UsageError
from crawler.settings import (
    DownloaderSettings,
    LimitSettings,
    ProcessSettings,
    Settings,
    load,
    parse_override,
)

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    """The message of the SettingsError that loading `text` raises."""
    with pytest.raises(SettingsError) as info:
        load(write(tmp_path, text))
    return str(info.value)


def one_sentence(message: str) -> None:
    assert "\n" not in message
    assert "Traceback" not in message


# ---- the file -------------------------------------------------------------------------


def test_the_repository_settings_toml_holds_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert load(Path("settings.toml")) == Settings()


def test_no_file_gives_the_defaults() -> None:
    settings = load(None)
    assert settings == Settings()
    assert settings.downloader.concurrency == 64
    assert settings.downloader.timeout == 30.0
    assert settings.processes.downloaders == "auto"
    assert settings.output.root == "output"


def test_values_from_the_file(tmp_path: Path) -> None:
    settings = load(
        write(
            tmp_path,
            """
        [processes]
        downloaders = 2
        parsers = 3
        transport = "tcp"

        [downloader]
        concurrency = 8
        timeout = 2.5
        user_agent = "bot/1.0"

        [limits]
        max_pages = 100
    """.replace("\n        ", "\n"),
        )
    )
    assert settings.processes == ProcessSettings(downloaders=2, parsers=3, transport="tcp")
    assert settings.downloader == DownloaderSettings(
        concurrency=8, timeout=2.5, user_agent="bot/1.0"
    )
    assert settings.limits == LimitSettings(max_pages=100)
    assert settings.parser == Settings().parser


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load(write(tmp_path, "")) == Settings()
    assert load(write(tmp_path, "# only a comment\n\n")) == Settings()


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(b'\xef\xbb\xbf[downloader]\nuser_agent = "caf\xc3\xa9"\n')
    assert load(path).downloader.user_agent == "café"


def test_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    message = error(tmp_path, "[downloader]\nconcurrency 8\n")
    assert message.startswith(f"{tmp_path / 'settings.toml'}: invalid TOML at line 2, column 13")
    one_sentence(message)


def test_syntax_error_at_the_end_of_the_document_still_names_line_and_column(
    tmp_path: Path,
) -> None:
    message = error(tmp_path, "[downloader]\nconcurrency = ")
    assert "invalid TOML at line 2, column 15: Invalid value" in message
    assert "end of document" not in message


def test_duplicate_key_is_a_syntax_error(tmp_path: Path) -> None:
    message = error(tmp_path, "[downloader]\nconcurrency = 1\nconcurrency = 2\n")
    assert "invalid TOML at line 3" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"settings file not found: .*nope\.toml"):
        load(tmp_path / "nope.toml")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="is a directory, not a file") as info:
        load(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(SettingsError, match="cannot read the settings file: Permission denied"):
        load(path)


def test_non_utf8_bytes_name_line_column_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(b'[downloader]\nuser_agent = "\xff"\n')
    with pytest.raises(SettingsError) as info:
        load(path)
    assert str(info.value) == f"{path}: not valid UTF-8 at line 2, column 15 (byte 27: b'\\xff')"


def test_non_utf8_after_a_bom_counts_bytes_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(b"\xef\xbb\xbf[demo]\n\xc3")
    with pytest.raises(SettingsError, match=r"line 2, column 1 \(byte 10: "):
        load(path)


def test_settings_error_is_a_usage_error() -> None:
    assert issubclass(SettingsError, UsageError)
    assert SettingsError.exit_code == 2


# ---- unknown names ----------------------------------------------------------------------


def test_unknown_section_suggests_the_nearest(tmp_path: Path) -> None:
    message = error(tmp_path, "[downloder]\nconcurrency = 1\n")
    assert message.endswith("unknown section [downloder] (did you mean 'downloader'?)")


def test_unknown_key_suggests_the_nearest(tmp_path: Path) -> None:
    message = error(tmp_path, "[downloader]\nconcurency = 1\n")
    assert message == (
        f"{tmp_path / 'settings.toml'}: unknown setting 'downloader.concurency' "
        "(did you mean 'downloader.concurrency'?)"
    )


def test_key_in_the_wrong_section_suggests_its_section(tmp_path: Path) -> None:
    message = error(tmp_path, "[downloader]\nwindow = 1\n")
    assert "unknown setting 'downloader.window' (did you mean 'parser.window'?)" in message


def test_key_outside_any_section_suggests_section_and_key(tmp_path: Path) -> None:
    message = error(tmp_path, "concurency = 8\n")
    assert "unknown setting 'concurency' outside any section" in message
    assert "did you mean 'downloader.concurrency'?" in message


def test_unknown_key_without_a_near_name_has_no_suggestion(tmp_path: Path) -> None:
    message = error(tmp_path, "[downloader]\nxyzzy = 1\n")
    assert message.endswith("unknown setting 'downloader.xyzzy'")


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    message = error(tmp_path, "downloader = [1, 2]\n")
    assert message.endswith("[downloader] must be a table of settings, got array")
    assert error(tmp_path, "downloader = 3\n").endswith("got integer 3")


# ---- types and ranges -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('concurrency = "8"', "downloader.concurrency must be an integer, got string '8'"),
        ("concurrency = true", "downloader.concurrency must be an integer, got boolean True"),
        ("concurrency = 8.0", "downloader.concurrency must be an integer, got number 8.0"),
        ("concurrency = [8]", "downloader.concurrency must be an integer, got array"),
        ('timeout = "30s"', "downloader.timeout must be a number, got string '30s'"),
        ("timeout = false", "downloader.timeout must be a number, got boolean False"),
        ("user_agent = 5", "downloader.user_agent must be a string, got integer 5"),
        ("user_agent = {a = 1}", "downloader.user_agent must be a string, got table"),
    ],
)
def test_wrong_types(tmp_path: Path, line: str, expected: str) -> None:
    message = error(tmp_path, f"[downloader]\n{line}\n")
    assert message == f"{tmp_path / 'settings.toml'}: {expected}"
    one_sentence(message)


def test_integers_are_accepted_for_float_settings(tmp_path: Path) -> None:
    settings = load(write(tmp_path, "[downloader]\ntimeout = 5\n[limits]\nhang_timeout = 7\n"))
    assert settings.downloader.timeout == 5.0
    assert isinstance(settings.downloader.timeout, float)
    assert settings.limits.hang_timeout == 7.0
    assert isinstance(settings.limits.hang_timeout, float)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_floats_are_refused(tmp_path: Path, value: str) -> None:
    message = error(tmp_path, f"[downloader]\ntimeout = {value}\n")
    assert "downloader.timeout must be a finite number" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[downloader]\nconcurrency = 0", "downloader.concurrency must be >= 1, got 0"),
        ("[downloader]\ntimeout = -1", "downloader.timeout must be >= 0.001, got -1.0"),
        ("[downloader]\ntimeout = 0", "downloader.timeout must be >= 0.001, got 0.0"),
        ("[downloader]\nretries = -1", "downloader.retries must be between 0 and 100, got -1"),
        ("[downloader]\nretries = 101", "downloader.retries must be between 0 and 100, got 101"),
        ("[processes]\nparsers = 0", "processes.parsers must be >= 1, got 0"),
        ("[processes]\ndownloaders = -2", "processes.downloaders must be >= 1, got -2"),
        ("[limits]\nmax_pages = -1", "limits.max_pages must be >= 0, got -1"),
        ("[demo]\nport = 70000", "demo.port must be between 1 and 65535, got 70000"),
        ("[cache]\nexpiration = -1", "cache.expiration must be >= 0, got -1.0"),
        (
            "[cache]\nignore_status = [99]",
            "cache.ignore_status[0] = 99: not an HTTP status (100 to 599)",
        ),
    ],
)
def test_out_of_range(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text + "\n") == f"{tmp_path / 'settings.toml'}: {expected}"


def test_range_limits_themselves_are_accepted(tmp_path: Path) -> None:
    settings = load(
        write(
            tmp_path,
            "[downloader]\nconcurrency = 1\nretries = 100\n"
            "[limits]\nmax_pages = 0\n[demo]\nport = 65535\n",
        )
    )
    assert settings.downloader.concurrency == 1
    assert settings.downloader.retries == 100
    assert settings.demo.port == 65535


def test_auto_and_counts_for_process_counts(tmp_path: Path) -> None:
    settings = load(write(tmp_path, '[processes]\ndownloaders = "auto"\nparsers = 3\n'))
    assert settings.processes.downloaders == "auto"
    assert settings.processes.parsers == 3


def test_other_strings_for_process_counts_name_the_choices(tmp_path: Path) -> None:
    message = error(tmp_path, '[processes]\nparsers = "many"\n')
    assert message.endswith("processes.parsers must be an integer or 'auto', got string 'many'")
    message = error(tmp_path, '[processes]\ndownloaders = "AUTO"\n')
    assert "must be an integer or 'auto', got string 'AUTO'" in message
    message = error(tmp_path, "[processes]\ndownloaders = 2.5\n")
    assert "must be an integer or 'auto', got number 2.5" in message


@pytest.mark.parametrize("choice", ["auto", "unix", "tcp"])
def test_transport_choices(tmp_path: Path, choice: str) -> None:
    settings = load(write(tmp_path, f'[processes]\ntransport = "{choice}"\n'))
    assert settings.processes.transport == choice


def test_other_transport_names_the_choices(tmp_path: Path) -> None:
    message = error(tmp_path, '[processes]\ntransport = "udp"\n')
    assert message.endswith(
        "processes.transport must be one of 'auto', 'unix', 'tcp', got string 'udp'"
    )
    assert "got integer 1" in error(tmp_path, "[processes]\ntransport = 1\n")


# ---- -s overrides ---------------------------------------------------------------------


def test_override(tmp_path: Path) -> None:
    settings = load(None, overrides=["processes.parsers=4", "downloader.timeout=2"])
    assert settings.processes.parsers == 4
    assert settings.downloader.timeout == 2.0
    assert settings.downloader.concurrency == 64


def test_override_wins_over_the_file_and_the_last_one_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "[downloader]\nconcurrency = 2\nper_host = 3\n")
    settings = load(path, ["downloader.concurrency=9", "downloader.concurrency=10"])
    assert settings.downloader.concurrency == 10
    assert settings.downloader.per_host == 3


def test_override_strings_without_quotes() -> None:
    assert load(None, ["downloader.user_agent=abc"]).downloader.user_agent == "abc"
    assert load(None, ['downloader.user_agent="a b"']).downloader.user_agent == "a b"
    assert load(None, ["downloader.user_agent=my bot/1.0"]).downloader.user_agent == "my bot/1.0"
    assert load(None, ["downloader.user_agent="]).downloader.user_agent == ""
    assert load(None, ["processes.transport=tcp"]).processes.transport == "tcp"
    assert load(None, ["processes.parsers=auto"]).processes.parsers == "auto"


def test_override_of_a_string_setting_keeps_text_that_looks_like_another_type() -> None:
    assert load(None, ["output.root=123"]).output.root == "123"
    assert load(None, ["downloader.user_agent=true"]).downloader.user_agent == "true"


def test_override_spaces_around_key_and_value() -> None:
    settings = load(None, [" downloader.concurrency = 4 "])
    assert settings.downloader.concurrency == 4


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        (
            "foo",
            "-s 'foo': expected SECTION.KEY=VALUE (e.g. -s processes.parsers=4), but found no '='",
        ),
        ("nosection=1", "-s 'nosection=1': expected SECTION.KEY=VALUE"),
        ("downloader=1", "but 'downloader' is not SECTION.KEY"),
        ("downloader.=1", "but 'downloader.' is not SECTION.KEY"),
        (".concurrency=1", "but '.concurrency' is not SECTION.KEY"),
        ("=1", "expected SECTION.KEY=VALUE"),
    ],
)
def test_bad_override_forms(item: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        load(None, [item])
    assert fragment in str(info.value)
    one_sentence(str(info.value))


def test_bad_override_form_suggests_a_key() -> None:
    with pytest.raises(SettingsError, match=r"did you mean 'downloader\.concurrency'\?"):
        load(None, ["concurency=8"])


def test_override_errors_name_the_override() -> None:
    with pytest.raises(SettingsError) as info:
        load(None, ["downloader.concurrency=abc"])
    assert str(info.value) == (
        "-s 'downloader.concurrency=abc': downloader.concurrency must be an integer, "
        "got string 'abc'"
    )
    with pytest.raises(SettingsError) as info:
        load(None, ["processes.parsers=0"])
    assert str(info.value) == "-s 'processes.parsers=0': processes.parsers must be >= 1, got 0"
    with pytest.raises(SettingsError) as info:
        load(None, ["downloader.concurency=8"])
    assert str(info.value) == (
        "-s 'downloader.concurency=8': unknown setting 'downloader.concurency' "
        "(did you mean 'downloader.concurrency'?)"
    )
    with pytest.raises(SettingsError, match=r"unknown section \[nosuch\]"):
        load(None, ["nosuch.key=1"])


def test_a_bad_file_is_reported_before_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "[downloader]\nconcurrency = 0\n")
    with pytest.raises(SettingsError, match=f"^{re.escape(str(path))}: downloader.concurrency"):
        load(path, ["downloader.concurrency=4"])


def test_parse_override() -> None:
    assert parse_override("processes.parsers=4") == ("processes.parsers", 4)
    assert parse_override("downloader.timeout=1.5") == ("downloader.timeout", 1.5)
    assert parse_override("downloader.user_agent=abc") == ("downloader.user_agent", "abc")
    assert parse_override('downloader.user_agent="x=y"') == ("downloader.user_agent", "x=y")
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])


# ---- custom_settings ------------------------------------------------------------------


def test_custom_settings_flat_and_nested() -> None:
    assert load(None, custom={"downloader.concurrency": 8}).downloader.concurrency == 8
    assert load(None, custom={"downloader": {"concurrency": 8}}).downloader.concurrency == 8
    both = load(None, custom={"downloader.concurrency": 8, "limits": {"max_pages": 5}})
    assert (both.downloader.concurrency, both.limits.max_pages) == (8, 5)


def test_precedence_file_then_custom_then_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "[downloader]\nconcurrency = 2\nper_host = 3\ntimeout = 4\n")
    custom = {"downloader": {"concurrency": 8, "per_host": 5}}
    settings = load(path, ["downloader.concurrency=9"], custom)
    assert settings.downloader.concurrency == 9  # -s beats custom_settings
    assert settings.downloader.per_host == 5  # custom_settings beats the file
    assert settings.downloader.timeout == 4.0  # the file beats the defaults


def test_custom_settings_are_not_modified(tmp_path: Path) -> None:
    custom = {"downloader": {"concurrency": 8}}
    load(write(tmp_path, "[downloader]\nper_host = 2\n"), ["downloader.timeout=1"], custom)
    assert custom == {"downloader": {"concurrency": 8}}


@pytest.mark.parametrize(
    ("custom", "fragment"),
    [
        (
            {"downloader.concurrency": "8"},
            "custom_settings: downloader.concurrency must be an integer, got string '8'",
        ),
        (
            {"downloader.concurency": 8},
            "custom_settings: unknown setting 'downloader.concurency' "
            "(did you mean 'downloader.concurrency'?)",
        ),
        ({"downloader": 8}, "custom_settings: section 'downloader' must be a dict of settings"),
        ({"concurency": 8}, "did you mean 'downloader.concurrency'?"),
        ({1: 8}, "custom_settings: keys must be strings"),
        ({"downloader.concurrency": (8,)}, "must be an integer, got tuple (8,)"),
    ],
)
def test_bad_custom_settings(custom: dict[object, object], fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        load(None, custom=custom)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    one_sentence(str(info.value))


# ---- derived values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cores", "downloaders", "parsers"),
    [(None, 2, 2), (1, 1, 1), (2, 2, 2), (4, 2, 4), (8, 2, 8), (16, 4, 16), (64, 16, 64)],
)
def test_auto_process_counts(
    monkeypatch: pytest.MonkeyPatch, cores: int | None, downloaders: int, parsers: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    settings = Settings()
    assert settings.downloader_count() == downloaders
    assert settings.parser_count() == parsers


def test_explicit_process_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    settings = load(None, ["processes.downloaders=3"])
    assert settings.downloader_count() == 3
    assert settings.parser_count() == 8  # one per core
    settings = load(None, ["processes.downloaders=7", "processes.parsers=2"])
    assert (settings.downloader_count(), settings.parser_count()) == (7, 2)
    settings = load(None, ["processes.downloaders=12"])
    assert settings.parser_count() == 8


def test_transport_resolves_auto() -> None:
    assert Settings().transport() in ("unix", "tcp")
    assert load(None, ["processes.transport=tcp"]).transport() == "tcp"
    assert load(None, ["processes.transport=unix"]).transport() == "unix"


def test_as_dict() -> None:
    data = settings_module.as_dict(Settings())
    assert data["downloader"]["concurrency"] == 64
    assert data["processes"] == {"downloaders": "auto", "parsers": "auto", "transport": "auto"}
    assert set(data) == {
        "processes",
        "downloader",
        "throttle",
        "scope",
        "frontier",
        "parser",
        "limits",
        "output",
        "journal",
        "cache",
        "demo",
    }
