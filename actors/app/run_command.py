"""`bin/perpsbot run`'s arguments and the order of its checks.

Owns what happens before a live session may connect, in this order: the latch (production hosts
need --live), the credentials (key file or environment; they must sign), the profile and its
overrides, the duration, the report path, the data dir (a writable directory, created 0700) and
its lock (one process per data dir). Every failure is one line and exit 2 with nothing opened.
Must never open a socket itself: the session (actors.app.live) does, after every check passed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from actors.venue.endpoints import COINBASE_REST, COINBASE_USER_WS, COINBASE_WS

EXIT_USAGE = 2

DEFAULT_PROFILE = "prod"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", required=True, metavar="DIR",
                        help="the run's home: its database (reused across restarts), backups and lock")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"profile name or TOML path (default: {DEFAULT_PROFILE})")
    parser.add_argument("--key-file", metavar="F", help="Coinbase CDP key file (JSON with name and privateKey);"
                                                        " default: COINBASE_API_KEY_NAME / COINBASE_API_PRIVATE_KEY")
    parser.add_argument("--rest-url", default=COINBASE_REST, metavar="U", help=f"REST origin (default {COINBASE_REST})")
    parser.add_argument("--ws-url", default=COINBASE_WS, metavar="U", help=f"market-data websocket (default {COINBASE_WS})")
    parser.add_argument("--user-ws-url", default=COINBASE_USER_WS, metavar="U",
                        help=f"user-data websocket (default {COINBASE_USER_WS})")
    parser.add_argument("--products", metavar="P,...", help="products to trade (default: the profile's)")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: run until a signal)")
    parser.add_argument("--report-json", metavar="PATH")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help="ACTOR:KIND[:after=N|every=N], repeatable (rehearsals)")
    parser.add_argument("--strict-reconcile", action="store_true",
                        help="exit 4 instead of trading REDUCING when the start finds positions that differ"
                             " from the venue's")
    parser.add_argument("--live", action="store_true",
                        help="required against Coinbase's production hosts: this trades real money")


def _profile(args: argparse.Namespace) -> Any:
    from config.loader import apply_overrides, load_profile

    profile = load_profile(args.profile)
    overrides: dict[str, Any] = {"run.data_dir": args.data_dir}
    if args.products:
        overrides["strategy.products"] = args.products
    return apply_overrides(profile, **overrides)


def _faults(specs: list[str]) -> list[Any]:
    from actors.app.live import LiveError
    from actors.app.tree import FAULT_TARGETS
    from runtime.faults import FaultSpecError, parse_fault

    try:
        return [parse_fault(text, FAULT_TARGETS + ("venue",)) for text in specs]
    except FaultSpecError as exc:
        raise LiveError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from actors.app.live import LiveError, RunTarget
    from runtime.data_dir import DataDirError

    target = RunTarget(args.rest_url, args.ws_url, args.user_ws_url)
    try:
        return _run(args, target)
    except (LiveError, DataDirError) as exc:
        print(f"perpsbot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace, target: Any) -> int:
    from actors.app.cli import finish
    from actors.app.live import LiveError, check_target, load_credentials, run_live
    from actors.app.preflight import (
        PreflightError,
        check_credentials,
        check_duration,
        check_report_path,
    )
    from actors.app.session import held_data_dir, private_files
    from actors.app.signals import StopSignals

    try:
        check_target(target, args.live)
        credentials = load_credentials(args.key_file)
        check_credentials(credentials)
        profile = _profile(args)
        faults = _faults(args.fault)
        check_duration(args.duration)
        check_report_path(args.report_json)
        # The journal and backups hold positions and orders: owner only. The data dir itself is
        # the run directory: one database, reused by every restart.
        if faults and args.live:
            raise LiveError("--fault injects failures for rehearsals: it cannot be used with --live")
        run_dir = str(Path(args.data_dir).expanduser().resolve())
        with private_files(), held_data_dir(args.data_dir, "run", run_dir=run_dir,
                                             profile=args.profile) as lock, StopSignals() as stop:
            report, status = run_live(profile, target, credentials, lock.data_dir, args.duration, stop, faults,
                                      args.strict_reconcile)
            return finish(report, status, args.report_json)
    except PreflightError as exc:
        raise LiveError(str(exc)) from None
