"""macOS: a Seatbelt profile for ``sandbox-exec -p PROFILE COMMAND``.

Written for parity and unit-tested as text; it has not run on a Mac here.
Seatbelt is deny-by-rule like bubblewrap's binds: everything is allowed, then
writes are denied except to the project and the private temp dir, protected
paths are denied for reads and writes, and the network is denied unless on.
Later rules win, so the protected paths come last.
"""

from __future__ import annotations

from pathlib import Path

from kimitui.sandbox.policy import Policy


def _quote(path: Path | str) -> str:
    text = str(path).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def seatbelt_profile(policy: Policy, tmp: Path) -> str:
    lines = ["(version 1)", "(allow default)", "(deny file-write*)"]
    writable = [f"(subpath {_quote(tmp)})", '(literal "/dev/null")']
    if policy.writable:
        writable.insert(0, f"(subpath {_quote(policy.root)})")
    lines.append(f"(allow file-write* {' '.join(writable)})")
    for path in (*policy.protected.git_dirs, *policy.protected.read_only):
        lines.append(f"(deny file-write* (subpath {_quote(path)}))")
    if policy.writable:
        for path in policy.git_writable:
            lines.append(f"(allow file-write* (subpath {_quote(path)}))")
        for path in policy.git_kept:
            lines.append(f"(deny file-write* (subpath {_quote(path)}))")
    for path in (*policy.protected.secrets, *policy.hidden):
        lines.append(f"(deny file-read* file-write* (subpath {_quote(path)}))")
    if not policy.network:
        lines.append("(deny network*)")
    # Processes outside the sandbox may not be signalled.
    lines.append("(deny signal (target others))")
    return "\n".join(lines) + "\n"
