"""Which runs a comparison makes: models resolved to endpoints, keys and prices.

Everything that can be wrong with a model name, a provider or a key is said
here, before the first run starts.
"""

from __future__ import annotations

import dataclasses
import os

from kimitui.cli import UsageError
from kimitui.compare.runner import RunSpec
from kimitui.config import Provider, Settings


def split_model(text: str) -> tuple[str, str | None]:
    """``NAME@PROVIDER`` -> (NAME, PROVIDER); a plain NAME has no provider."""
    name, at, provider = text.rpartition("@")
    if not at:
        return text.strip(), None
    if not name.strip() or not provider.strip():
        raise UsageError(f"--model {text!r}: expected NAME or NAME@PROVIDER")
    return name.strip(), provider.strip()


def _provider(settings: Settings, name: str) -> Provider:
    provider = settings.providers.get(name)
    if provider is None:
        known = ", ".join(sorted(settings.providers)) or "none configured"
        raise UsageError(
            f"unknown provider {name!r} (known: {known}); add it to config.toml as\n"
            f"[providers.{name}]\n"
            'base_url = "http://localhost:8000/v1"\n'
            'api_key_env = "VLLM_API_KEY"'
        )
    return provider


def _key(env: str, who: str) -> str:
    key = os.environ.get(env, "").strip()
    if not key:
        raise UsageError(
            f"no API key for {who}: set {env} (export {env}=...); try --demo to compare "
            "scripted models offline"
        )
    return key


def _resolve(settings: Settings, text: str, demo: bool) -> tuple[str, str | None, Settings, str]:
    name, provider_name = split_model(text)
    if not name:
        raise UsageError("--model needs a name")
    if demo:
        if provider_name:
            raise UsageError(f"--model {text!r}: --demo plays scripted models, not providers")
        return name, None, dataclasses.replace(settings, model=name), "demo"
    if provider_name is None:
        run = dataclasses.replace(settings, model=name)
        return name, None, run, _key(settings.api_key_env, name)
    provider = _provider(settings, provider_name)
    run = dataclasses.replace(
        settings,
        model=name,
        base_url=provider.base_url,
        api_key_env=provider.api_key_env,
        # The provider's prices, not [prices] (which is for the default endpoint);
        # without them, a known model id's list price, else unknown.
        price_input=provider.price_input,
        price_cached_input=provider.price_cached_input,
        price_output=provider.price_output,
        currency=provider.currency,
    )
    return name, provider_name, run, _key(provider.api_key_env, f"{name}@{provider_name}")


def plan_runs(models: list[str], repeat: int, settings: Settings, *, demo: bool) -> list[RunSpec]:
    """Runs ordered repeat by repeat (A1 B1 A2 B2), so parallel runs mix the models."""
    resolved = [_resolve(settings, text, demo) for text in dict.fromkeys(models)]
    specs: list[RunSpec] = []
    for rep in range(1, repeat + 1):
        for name, provider, run_settings, key in resolved:
            specs.append(RunSpec(len(specs), name, provider, rep, run_settings, key))
    return specs
