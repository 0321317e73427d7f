"""``pxos-kernel explore``: start the explorer, print its URL, serve until interrupted."""

from __future__ import annotations

import ipaddress
import signal
import sys
import threading
import webbrowser
from typing import Any

from pxos_kernel import UsageError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def configure_explore(parser: Any) -> None:
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; anything else needs --allow-remote)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host other than loopback: anyone who can reach it and has the token "
                        "can read this system and promote cartridges")
    parser.add_argument("--open", action="store_true", help="open the explorer in a web browser")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_explore(args: Any) -> int:
    from pxos_explorer.app import LOOPBACK, Explorer
    from pxos_explorer.server import bind, describe

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0 to 65535; 0 picks a free one)")
    host = args.host
    if not is_loopback(host):
        if not args.allow_remote:
            print(f"pxos-kernel: error: --host {host} is not a loopback address; the explorer shows your "
                  "ledger and can promote cartridges, so serving it beyond this machine needs --allow-remote",
                  file=sys.stderr)
            return 2
        print(f"pxos-kernel explore: WARNING: serving on {host}, beyond this machine: anyone who can reach "
              "this address and has the token can read this system and promote cartridges", file=sys.stderr)
    names = set(LOOPBACK) | {host}
    app = Explorer(args.kernel, hosts=names)
    log = (lambda line: print(line, file=sys.stderr)) if args.verbose else None
    server = bind(app, host, args.port, debug=bool(getattr(args, "debug", False)), log=log)
    app.port = server.port
    shown_host = "127.0.0.1" if host in ("127.0.0.1", "0.0.0.0") else host
    url = describe(server, app.token, shown_host)
    print(f"pxOS explorer of {args.kernel.home}", flush=True)
    print(f"    {url}", flush=True)
    print("Press Ctrl+C to stop.", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # a clean stop on SIGTERM too
    if args.open:
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
        app.close()
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
