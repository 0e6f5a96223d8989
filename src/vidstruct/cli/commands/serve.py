"""``vidstruct serve [--data-dir DIR] [--db URL] [--workers N] [--host H --port P] [--allow-root DIR]...``: the
HTTP API under uvicorn plus N worker processes (``--workers 0``: the API alone).

The database must be migrated first (``vidstruct db upgrade``): the server refuses to start otherwise. On
SIGTERM / Ctrl-C the API stops taking requests and each worker releases the job in hand before exiting.
"""

from __future__ import annotations

import argparse

NAME = "serve"
HELP = "run the structuring service: HTTP API (FastAPI, OpenAPI docs at /docs) and job workers"
_WORKER_STOP_S = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vidstruct.service.settings import add_store_arguments, add_worker_arguments

    add_store_arguments(parser)
    add_worker_arguments(parser)
    parser.add_argument("--workers", type=int, default=1, help="worker processes to start (0: the API alone)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--allow-root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder whose files jobs may name by 'path' (repeatable; default: uploads only)",
    )
    parser.add_argument("--max-upload-mb", type=float, default=2048.0, help="largest upload in MiB (default 2048)")
    parser.add_argument("--log-json", action="store_true", help="logs as one JSON object per line (stderr)")
    parser.add_argument(
        "--cors-origin", action="append", default=[], metavar="URL", help="allow browsers from this origin"
    )


def _worker_argv(args: argparse.Namespace) -> list[str]:
    import sys

    argv = [sys.executable, "-m", "vidstruct", "worker", "--data-dir", args.data_dir]
    for folder in args.profile_dir:
        argv += ["--profile-dir", folder]
    argv += ["--default-profile", args.default_profile, "--lease-s", str(args.lease_s)]
    argv += ["--max-attempts", str(args.max_attempts)]
    argv += ["--webhook-attempts", str(args.webhook_attempts), "--webhook-backoff-s", str(args.webhook_backoff_s),
             "--webhook-timeout-s", str(args.webhook_timeout_s)]  # fmt: skip
    argv += (["--webhook-allow-private"] if args.webhook_allow_private else []) + [
        a for host in args.webhook_allow_host for a in ("--webhook-allow-host", host)]  # fmt: skip
    if args.policy:
        argv += ["--policy", args.policy]
    return argv + (["--quiet"] if args.quiet else []) + (["--log-json"] if args.log_json else [])


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server that, asked to stop, passes the request on to the workers at once (they release
        their jobs while the API drains its requests)."""

        def __init__(self, config: uvicorn.Config, workers: list) -> None:
            super().__init__(config)
            self.workers = workers

        def handle_exit(self, sig: int, frame: object) -> None:
            for proc in self.workers:
                if proc.poll() is None:
                    proc.terminate()
            from vidstruct.service.api.job_events import stop_streams

            stop_streams(self.config.app)  # open event streams end now: uvicorn waits for open responses
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    return Server


def run(args: argparse.Namespace) -> int:
    import os
    import signal
    import subprocess
    from pathlib import Path

    from vidstruct.errors import InputError
    from vidstruct.service.db.migrate import require_current
    from vidstruct.service.db.session import make_engine
    from vidstruct.service.logs import use_json_logs
    from vidstruct.service.settings import store_settings

    if args.workers < 0:
        raise InputError(f"--workers must be >= 0, got {args.workers}")
    settings = store_settings(
        args,
        allow_roots=tuple(Path(p).resolve() for p in args.allow_root),
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        cors_origins=tuple(args.cors_origin),
    )
    for root in settings.allow_roots:
        if not root.is_dir():
            raise InputError(f"--allow-root {root}: not a folder")
    if settings.policy_path is not None:
        from vidstruct.service.moderation.policy import load_policy

        load_policy(settings.policy_path)  # a malformed policy: one line, before anything starts
    engine = make_engine(settings.database_url)
    try:
        require_current(engine)  # an unmigrated database: one line, before anything starts
    finally:
        engine.dispose()
    # the workers start first: they import the models' libraries while the API imports its own
    env = {**os.environ, **({"VIDSTRUCT_DB": args.db} if args.db else {})}
    workers = [subprocess.Popen(_worker_argv(args), env=env) for _ in range(args.workers)]
    # uvicorn stops on SIGTERM / SIGINT, then raises the signal again with the handler it found: make that one
    # only note it, so the workers below are stopped and the command exits 0 instead of dying by the signal (a
    # signal before uvicorn starts listening skips it)
    stopping: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _: stopping.append(signum)) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        import uvicorn

        from vidstruct.service.api.app import create_app

        server_class = _server_class()
        app = create_app(settings)
        level = "warning" if args.quiet else "info"
        if args.log_json:
            use_json_logs()
        if not stopping:
            # log_config None: uvicorn keeps the logging set up here (JSON lines, or the CLI's format)
            config = uvicorn.Config(app, host=args.host, port=args.port, log_level=level, log_config=None)
            server_class(config, workers).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for proc in workers:
            proc.terminate()  # SIGTERM: the worker releases its job and exits
        for proc in workers:
            try:
                proc.wait(timeout=_WORKER_STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return 0
