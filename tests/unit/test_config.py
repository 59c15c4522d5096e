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


SECRETS_EVERYWHERE = """
backends:
  b:
    protocol: openai-chat
    base_url: "${BASE:-https://api.example.com}/v1"
    keys:
      - {name: a, secret: "${KEY_A}"}
      - {name: f, secret_file: "${HOME_DIR:-.}/missing-file"}
    keys_env: POOL_KEYS
    headers: {X-Org: "org-${ORG_TOKEN}"}
clients:
  - {name: ci, token: "${CI_TOKEN}"}
telemetry:
  headers: {Authorization: "Bearer ${OTEL_TOKEN}"}
"""


def test_a_shape_only_load_needs_no_secret_and_reads_none(tmp_path: Path) -> None:
    """`crosswire exec`/`env` need the listen address only: unset secrets are no error."""
    path = tmp_path / "c.yaml"
    path.write_text(SECRETS_EVERYWHERE)
    with pytest.raises(config.ConfigError, match="KEY_A is not set"):
        config.load(path, env={})
    cfg = config.load(path, env={"POOL_KEYS": "p1,p2"}, secrets=False)
    assert not cfg.resolved and cfg.secrets == ()
    assert [(k.name, k.secret) for k in cfg.backends["b"].keys] == [("a", ""), ("f", "")]
    assert cfg.backends["b"].config.headers == {"X-Org": "org-${ORG_TOKEN}"}
    assert cfg.file.clients[0].token == "${CI_TOKEN}"


def test_secret_variables_are_every_variable_a_secret_comes_from(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SECRETS_EVERYWHERE)
    cfg = config.load(path, env={}, secrets=False)
    assert set(cfg.secret_vars) == {"KEY_A", "POOL_KEYS", "ORG_TOKEN", "CI_TOKEN", "OTEL_TOKEN"}
    (tmp_path / "missing-file").write_text("file-secret")
    env = {"KEY_A": "ka", "POOL_KEYS": "p1", "ORG_TOKEN": "o", "CI_TOKEN": "ct", "OTEL_TOKEN": "t"}
    full = config.load(path, env=env)
    assert full.secret_vars == cfg.secret_vars and full.resolved
    assert set(full.secrets) == {"ka", "file-secret", "p1", "ct", "Bearer t"}


def test_a_shape_only_load_keeps_an_unset_url_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD.replace("https://api.anthropic.com/", "${ANTHROPIC_URL}"))
    cfg = config.load(path, env={}, secrets=False)
    assert cfg.backends["claude"].config.base_url == "${ANTHROPIC_URL}"
    with pytest.raises(config.ConfigError, match="ANTHROPIC_URL is not set"):
        config.load(path, env={"AK": "x"})


def test_the_default_config_names_the_pool_variables_as_secret() -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = config.load(root / "config" / "crosswire.yaml", env={}, secrets=False)
    assert {"OPENAI_API_KEYS", "ANTHROPIC_API_KEYS", "GEMINI_API_KEYS"} <= set(cfg.secret_vars)
