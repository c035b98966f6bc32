"""Every test keeps kimitui's state (sessions, journal, checkpoints) in a temp dir,
never in the user's own state dir."""

from __future__ import annotations

import os

import pytest

from kimitui.core.statedir import STATE_ENV


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    if not os.environ.get(STATE_ENV):
        monkeypatch.setenv(STATE_ENV, str(tmp_path_factory.mktemp("kimitui-state")))
