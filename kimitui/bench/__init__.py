"""``python -m kimitui.bench``: measures the app and the engine against the scripted server.

Every case drives the real code: the TUI runs in a child process on a real
pseudo-terminal (160x48, xterm-256color) whose output is read and discarded,
the engine runs headless in a child, and the scripted model server runs on
127.0.0.1 in the benchmark's own process. See BENCHMARKS.md for results.
"""
