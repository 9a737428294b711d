"""``ssr-view``: serve a live 3D view of ssr_node's map, with a question box, in a
browser.

    ssr-view                                  # http://127.0.0.1:8080, watches ./ssr_node
    ssr-view --port 8090 --ros-args -r __ns:=/robot1
    ssr-view --host 0.0.0.0                   # other hosts may connect: see docs/web-view.md

Subscribes to ``cogmap/scene_graph``, ``cogmap/markers``, ``cogmap/camera_path`` (when
published) and ``/diagnostics``; questions go to ``spatial_query``. It binds 127.0.0.1
unless ``--host`` says otherwise, prints its address, and runs until SIGINT/SIGTERM.
ssr_node may start after it, stop and restart: the page follows.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback

from rclpy.utilities import remove_ros_args

from ssr_ros.view.answer import answer_view, message_view
from ssr_ros.view.state import ViewState

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


EXAMPLES = """examples:
  ssr-view                                  # http://127.0.0.1:8080, watches ./ssr_node
  ssr-view --port 8090 --ros-args -r __ns:=/camera"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssr-view", description="Serve a live 3D view of ssr_node's map, with a question "
        "box, in a browser. Runs until SIGINT/SIGTERM; ssr_node may start after it, stop and "
        "restart.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on (default 127.0.0.1: this machine only; "
                             "0.0.0.0 opens the page, without a password, to every host "
                             "that can reach this one)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="TCP port (default 8080; 0 = any free port; a busy port is "
                             "followed by the next free one; the address is printed)")
    parser.add_argument("--node-name", default="ssr_node",
                        help="name of the ssr_node whose diagnostics to show (default "
                             "ssr_node, in this process's namespace)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="time to wait for an answer [s] (default 10)")
    return parser


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a TCP port (0-65535)")
    if not args.timeout > 0:
        parser.error("--timeout must be positive")


class ViewApp:
    """The running view: ROS node, viser server, scene and panel (used by :func:`main`
    and by tests that run the view in-process)."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 node_name: str = "ssr_node", timeout_s: float = 10.0,
                 ros_args: list[str] | None = None, context=None) -> None:
        import viser

        from ssr_ros.view.panel import Panel
        from ssr_ros.view.ros_client import ERROR_NAMES, ViewNode
        from ssr_ros.view.scene import SceneRenderer

        self.state = ViewState()
        self.timeout_s = float(timeout_s)
        self._error_names = ERROR_NAMES
        self.ros = ViewNode(self.state, node_name=node_name, args=ros_args, context=context)
        try:
            self.server = viser.ViserServer(host=host, port=port, label="ssr_ros map",
                                            verbose=False)
        except BaseException:
            self.ros.close()
            raise
        self.host = host
        self.port = self.server.get_port()
        self.renderer = SceneRenderer(self.server.scene, self.server.initial_camera)
        self.panel = Panel(self.server.gui, self.ask)
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{shown}:{self.port}"

    def ask(self, text: str) -> str:
        """Ask ssr_node the typed question; returns the Markdown for the page and draws
        the highlight. Never raises: an unexpected failure is logged here and the page
        gets one readable line."""
        try:
            self.renderer.clear_answer()
            result = self.ros.ask(text, self.timeout_s)
            if result.response is None:
                head = "Not asked" if result.refused else "No answer"
                view = message_view(f"**{head}**: {result.problem}")
            else:
                view = answer_view(result.response, self.state.snapshot, self._error_names)
            self.renderer.show_answer(view)
            return view.markdown
        except Exception as exc:  # noqa: BLE001 - the page gets a sentence, the log the trace
            traceback.print_exc()
            return f"**The view failed to ask** ({type(exc).__name__}); see ssr-view's log."

    def run(self) -> None:
        """Redraw on every change of the state, refresh the panel once a second, until
        :meth:`stop`."""
        seen = -1
        while not self._stop.is_set():
            snap = self.state.wait_change(seen, 1.0)
            if snap.version != seen:
                self.renderer.apply(snap)
                seen = snap.version
            self.panel.refresh(snap, self.ros.node_reachable())

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()
        self.server.stop()
        self.ros.close()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else [sys.argv[0], *argv])
    parser = build_parser()
    args = parser.parse_args(remove_ros_args(argv)[1:])
    _check_args(parser, args)
    try:
        app = ViewApp(args.host, args.port, args.node_name, args.timeout, ros_args=argv)
    except OSError as exc:
        print(f"ssr-view: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: app.stop())
    exposed = "" if args.host in ("127.0.0.1", "localhost", "::1") else \
        f"; listening on {args.host}: other hosts can open it, without a password"
    print(f"ssr-view: open {app.url} (watching ssr_node at {app.ros.watched_fqn}"
          f"{exposed}; Ctrl-C stops)", flush=True)
    try:
        app.run()
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
