"""Start the viewer's web server (Streamlit) on a run or sweep directory."""

from __future__ import annotations

import socket
import threading
import webbrowser
from pathlib import Path

from agents.errors import AnalysisError

MISSING = ("tinmen view needs the viewer extra (Streamlit), which is not installed; run "
           "pip install 'tinmen[viewer]'")


def free_port(host: str) -> int:
    """A TCP port on `host` that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def check_port(host: str, port: int) -> None:
    """A one-line AnalysisError when `port` on `host` cannot be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AnalysisError(f"--port {port}: cannot listen on {host}:{port} "
                                f"({exc.strerror}); choose another port or leave --port out "
                                "for a free one") from exc


def serve(path: str | Path, *, host: str = "127.0.0.1", port: int | None = None,
          open_browser: bool = True, refresh_s: float = 2.0, n_boot: int = 2000) -> int:
    """Serve the viewer for `path` until interrupted; prints the address first.

    Raises AnalysisError (one line) for a path with no runs, a busy port or a missing extra.
    """
    from analysis.viewer.data import source_kind

    kind = source_kind(path)
    if refresh_s <= 0:
        raise AnalysisError(f"--refresh: {refresh_s} is not a number of seconds; give a "
                            "positive number, e.g. --refresh 2")
    try:
        from streamlit.web import cli as streamlit_cli
    except ImportError as exc:
        raise AnalysisError(MISSING) from exc
    if port is None:
        port = free_port(host)
    else:
        check_port(host, port)
    url = f"http://{host}:{port}"
    print(f"tinmen view: {kind} {Path(path).resolve()} at {url} (Ctrl-C stops)", flush=True)
    if open_browser:
        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    app = Path(__file__).with_name("app.py")
    args = ["run", str(app), "--server.port", str(port), "--server.address", host,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--theme.base", "light", "--client.toolbarMode", "viewer",
            "--", str(Path(path).resolve()), str(refresh_s), str(n_boot)]
    try:
        streamlit_cli.main(args=args, prog_name="streamlit", standalone_mode=False)
    except KeyboardInterrupt:
        pass
    return 0
