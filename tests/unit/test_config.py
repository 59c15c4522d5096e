"""Config errors name file, line and field; secrets resolve from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosswire import config

GOOD = """
listen: 127.0.0.1:9999
backends:
  claude:
    protocol: anthropic
    base_url: https://api.anthropic.com/
    keys:
      - {name: a, secret: "${AK}"}
      - {name: b, secret_file: key.txt, weight: 2}
    keys_env: MORE_KEYS
    models: {"claude-*": {max_output_tokens: 8192}}
routes:
  - match: {host: api.openai.com, model: "gpt-4*"}
    backend: [claude]
    model: claude-sonnet-4-5
"""


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> config.Config:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    (tmp_path / "key.txt").write_text("file-secret\n")
    return config.load(
        path, env=env if env is not None else {"AK": "env-secret", "MORE_KEYS": "m1, m2,"}
    )


def test_valid_config_resolves_keys_from_env_file_and_list(tmp_path: Path) -> None:
    cfg = load(tmp_path, GOOD)
    keys = cfg.backends["claude"].keys
    assert [k.name for k in keys] == ["a", "b", "more_keys-1", "more_keys-2"]
    assert [k.secret for k in keys] == ["env-secret", "file-secret", "m1", "m2"]
    assert cfg.backends["claude"].config.base_url == "https://api.anthropic.com"
    assert cfg.backends["claude"].limits_for("claude-x") == (4096, 8192)
    assert set(cfg.secrets) == {"env-secret", "file-secret", "m1", "m2"}
    assert "env-secret" not in repr(keys)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("protocol: anthropic", "protocol: antropic"), ":5: backends.claude.protocol"),
        (
            GOOD.replace("weight: 2", "weight: 2, colour: red"),
            ":9: backends.claude.keys[1].colour: unknown field; allowed here: name, secret",
        ),
        (
            GOOD.replace("backend: [claude]", "backend: clod"),
            ":14: routes[0].backend: unknown backend 'clod' (backends: claude)",
        ),
        (GOOD.replace("127.0.0.1:9999", "nowhere"), ":2: listen: must be HOST:PORT"),
        (
            GOOD.replace("https://api.anthropic.com/", "ftp://x"),
            ":6: backends.claude.base_url: must be an http",
        ),
        ("backends: [oops\n", ":2: invalid YAML"),
    ],
)
def test_errors_name_file_line_field_and_what_is_allowed(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(config.ConfigError) as err:
        load(tmp_path, text)
    assert str(tmp_path / "c.yaml") in str(err.value)
    assert expected in str(err.value)


def test_missing_variable_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(
        config.ConfigError,
        match=r":8: backends.claude.keys\[0\].secret: environment variable AK is not set",
    ):
        load(tmp_path, GOOD, env={})


def test_default_value_syntax(tmp_path: Path) -> None:
    cfg = load(tmp_path, GOOD.replace("${AK}", "${AK:-fallback}"), env={})
    assert cfg.backends["claude"].keys[0].secret == "fallback"


def test_shipped_default_config_is_valid_without_keys() -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = config.load(root / "config" / "crosswire.yaml", env={})
    assert cfg.file.listen.startswith("127.0.0.1:")
    assert all(not b.keys for b in cfg.backends.values())
    for example in sorted((root / "config" / "examples").glob("*.yaml")):
        config.parse(example.read_text(), example, env=_AnyEnv())


class _AnyEnv(dict[str, str]):
    """Every variable is set (examples reference many)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return "http://127.0.0.1:1/v1" if "URL" in key else f"value-of-{key}"
