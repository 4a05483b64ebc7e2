"""bin/perpsbot's command line: run, paper, replay, exchange, record, bench, ctl, status, backups,
orders preview.

Owns argument parsing, exit codes and printing. Exit 0 on success, 2 on bad arguments or config
(one line naming the problem, checked before anything starts), 3 when a run ended HALTED by an
escalation, 130 when a second SIGINT/SIGTERM forced a stop (actors.app.signals.EXIT_FORCED, no
report). Command names, flags, exit codes and report keys are a contract: add, never rename.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_USAGE, EXIT_HALTED = 0, 2, 3


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage + message)
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="perpsbot", description="Headless trading runtime for Coinbase spot and perps.")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser, duration: bool = True) -> None:
        p.add_argument("--profile", default="paper", help="profile name or TOML path (default: paper)")
        if duration:
            p.add_argument("--duration", type=float, metavar="S", help="seconds to run")
        p.add_argument("--seed", type=int, metavar="N")
        p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                       help="ACTOR:KIND[:after=N|every=N], repeatable")
        p.add_argument("--report-json", metavar="PATH")
        p.add_argument("--data-dir", metavar="DIR")

    paper = sub.add_parser("paper", help="a bounded paper session on the built-in exchange")
    common(paper)
    paper.add_argument("--feed", metavar="URL",
                       help="market data from this Advanced Trade endpoint ('coinbase': production)"
                            " instead of the built-in exchange")
    paper.add_argument("--chaos", action="append", default=[], metavar="SPEC",
                       help="built-in exchange failure KIND[:every=S|at=S][:for=S], repeatable")
    paper.add_argument("--venue", choices=["sim", "exchange"], default="sim",
                       help="sim: the in-process paper venue (default); exchange: orders over the built-in"
                            " exchange's REST API and user channel")
    from actors.app import run_command

    run = sub.add_parser("run", help="trade live on Coinbase (or a Coinbase-compatible endpoint)")
    run_command.add_arguments(run)
    replay = sub.add_parser("replay", help="replay a capture file (default: the bundled sample)")
    replay.add_argument("capture", nargs="?", help="JSONL capture, one raw frame per line")
    replay.add_argument("--threads", action="store_true",
                        help="run every actor on its own thread, as live, instead of the single-threaded"
                             " dispatcher (the same fingerprint, slower)")
    replay.add_argument("--quiet", action="store_true",
                        help="no progress line (it is shown only when stderr is a terminal anyway)")
    common(replay, duration=False)
    exchange = sub.add_parser("exchange", help="run the built-in exchange alone")
    exchange.add_argument("--port", type=int, default=0)
    exchange.add_argument("--seed", type=int, default=1)
    exchange.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    exchange.add_argument("--chaos", action="append", default=[], metavar="SPEC",
                          help="feed failure KIND[:every=S|at=S][:for=S], repeatable")
    exchange.add_argument("--api-key-name", metavar="NAME",
                          help="demand JWTs signed by this CDP key on private REST and subscribes")
    exchange.add_argument("--api-public-key", metavar="PEM",
                          help="the key's EC P-256 public key: PEM text or a path to a PEM file")
    exchange.add_argument("--new-key", metavar="FILE",
                          help="write a throwaway CDP key file (0600) and accept only that key")
    exchange.add_argument("--api-host", metavar="HOST", default="api.coinbase.com",
                          help="the host a REST JWT's uri claim must name (default: api.coinbase.com)")
    for p in (paper, exchange):
        p.add_argument("--cash", metavar="USD",
                       help="USD in the exchange's futures account (exchange, default 100000); for paper the"
                            " session's starting cash, split with the spot account's USD")
        p.add_argument("--spot-balance", action="append", default=[], metavar="ASSET=AMOUNT",
                       help="a spot holding at the exchange, repeatable (exchange default: USD=20000 BTC=0.1)")
    record = sub.add_parser("record", help="capture raw frames from an Advanced Trade endpoint")
    record.add_argument("--url", required=True)
    record.add_argument("--products", nargs="+", default=["BTC-USD", "BIP-20DEC30-CDE"])
    record.add_argument("--channels", nargs="+", default=["level2", "market_trades", "ticker", "status"])
    record.add_argument("--duration", type=float, default=60.0, metavar="S")
    record.add_argument("--out", required=True)
    bench = sub.add_parser("bench", help="measure ingest, tick-to-order latency and replay speed")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--soak", action="store_true",
                       help="also an accelerated soak: 4 simulated hours of market through the whole tree, memory"
                            " sampled (adds a minute or two)")
    from actors.app import ctl as ctl_command
    from actors.app import preview as preview_command

    ctl = sub.add_parser("ctl", help="halt, reduce or resume trading in a running paper or replay process")
    ctl_command.add_arguments(ctl)
    from actors.app import status as status_command

    status = sub.add_parser("status", help="a data dir's trading state, positions, orders, events, backups"
                                           " and the process holding it, from the journal")
    status_command.add_arguments(status)
    from actors.app import backups as backups_command

    backups = sub.add_parser("backups", help="list, verify or restore a data dir's backups")
    backups_command.add_arguments(backups)
    orders = sub.add_parser("orders", help="order tools")
    orders_sub = orders.add_subparsers(dest="orders_command", metavar="{preview}", required=True,
                                        parser_class=_Parser)
    preview = orders_sub.add_parser("preview", help="quantize one order, run every pre-trade check and show"
                                                    " the JSON body, without sending it")
    preview_command.add_arguments(preview)
    return parser


def _account_flags(args: argparse.Namespace) -> tuple[Any, tuple[tuple[str, Any], ...]]:
    """`--cash` (None if not given) and the `--spot-balance` pairs, checked: one line, exit 2."""
    from decimal import Decimal, InvalidOperation

    from exchange.account import MAX_AMOUNT, parse_spot_balance

    cash = None
    if args.cash is not None:
        try:
            cash = Decimal(args.cash)
        except InvalidOperation:
            raise UsageError(f"--cash must be a USD amount, got {args.cash!r}") from None
        if not cash.is_finite() or not 0 < cash <= MAX_AMOUNT:
            raise UsageError(f"--cash must be more than 0 and at most {MAX_AMOUNT:f}, got {args.cash!r}")
    try:
        spot = tuple(parse_spot_balance(text) for text in args.spot_balance)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return cash, spot


def _profile(args: argparse.Namespace) -> Any:
    from actors.app.tree import FAULT_TARGETS
    from config.loader import apply_overrides, load_profile
    from runtime.faults import FaultSpecError, parse_fault

    profile = load_profile(args.profile)
    overrides: dict[str, Any] = {}
    if getattr(args, "duration", None) is not None:
        from actors.app.preflight import check_duration

        check_duration(args.duration)
        overrides["run.duration_s"] = args.duration
    if args.seed is not None:
        overrides["run.seed"] = args.seed
    if args.data_dir is not None:
        overrides["run.data_dir"] = args.data_dir
    if getattr(args, "cash", None) is not None:
        overrides["portfolio.starting_cash"] = _account_flags(args)[0]
    if overrides:
        profile = apply_overrides(profile, **overrides)
    # The Coinbase gateway is a part of the bot (the paper venue stands in for the exchange, and is not).
    targets = FAULT_TARGETS + (("venue",) if getattr(args, "venue", "sim") == "exchange" else ())
    try:
        faults = [parse_fault(text, targets) for text in args.fault]
    except FaultSpecError as exc:
        raise UsageError(str(exc)) from None
    return profile, faults


def _chaos(args: argparse.Namespace) -> list[Any]:
    from exchange.chaos import ChaosSpecError, parse_chaos

    try:
        return [parse_chaos(text) for text in args.chaos]
    except ChaosSpecError as exc:
        raise UsageError(str(exc)) from None


def finish(report: dict[str, Any], status: int, report_json: str | None) -> int:
    from actors.app.report import render

    print(render(report))
    if report_json:
        path = Path(report_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    return status


def main(argv: list[str] | None = None) -> int:
    from actors.app.preflight import PreflightError, check_report_path
    from config.loader import ConfigError
    from runtime.data_dir import DataDirError
    from runtime.logging import setup_logging

    try:
        args = _parser().parse_args(argv)
        setup_logging(args.log_level)
        if args.command == "paper":
            from actors.app.paper import run_paper

            profile, faults = _profile(args)
            chaos = _chaos(args)
            if chaos and args.feed:
                raise UsageError("--chaos applies to the built-in exchange; it cannot be used with --feed")
            if args.venue == "exchange" and args.feed:
                raise UsageError("--venue exchange trades on the built-in exchange; it cannot be used with --feed")
            from actors.venue.coinbase_auth import Credentials, CredentialsError

            try:
                credentials = Credentials.from_env()
            except CredentialsError as exc:
                raise UsageError(str(exc)) from None
            check_report_path(args.report_json)  # run_paper checks the rest before it starts anything
            return finish(*run_paper(profile, faults, args.feed, tuple(chaos), credentials, args.venue,
                                     _account_flags(args)[1]),
                           args.report_json)
        if args.command == "run":
            from actors.app.run_command import run as run_live_command

            return run_live_command(args)
        if args.command == "replay":
            from actors.app.replay import CaptureError, load_capture, run_replay

            profile, faults = _profile(args)
            try:
                capture, lines = load_capture(args.capture)
            except CaptureError as exc:
                raise UsageError(str(exc)) from None
            check_report_path(args.report_json)
            progress = sys.stderr.isatty() and not args.quiet
            return finish(*run_replay(profile, capture, lines, faults, show_progress=progress, threads=args.threads),
                          args.report_json)
        if args.command == "exchange":
            return _exchange(args)
        if args.command == "record":
            return _record(args)
        if args.command == "bench":
            from actors.app.bench import run_bench

            return run_bench(as_json=args.json, soak=args.soak)
        if args.command == "ctl":
            from actors.app.ctl import run as run_ctl

            return run_ctl(args)
        if args.command == "status":
            from actors.app.status import run as run_status

            return run_status(args)
        if args.command == "backups":
            from actors.app.backups import run as run_backups

            return run_backups(args)
        if args.command == "orders":
            from actors.app.preview import run as run_preview

            return run_preview(args)
    except (UsageError, ConfigError, PreflightError, DataDirError) as exc:
        print(f"perpsbot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


def _record(args: argparse.Namespace) -> int:
    """Capture until --duration, the server's close, or SIGINT/SIGTERM: each closes the file whole."""
    from actors.app.preflight import check_duration, check_output_file
    from actors.app.signals import StopSignals
    from actors.streaming.capture import RecordError, record

    check_duration(args.duration)
    check_output_file(args.out, "--out")
    with StopSignals() as stop:
        try:
            count = record(args.url, tuple(args.products), tuple(args.channels), args.duration, args.out, stop)
        except RecordError as exc:
            raise UsageError(str(exc)) from None
    print(f"recorded {count} frames to {args.out}")
    return EXIT_OK


def _exchange(args: argparse.Namespace) -> int:
    from actors.app.preflight import PreflightError, check_duration, check_port
    from actors.app.signals import StopSignals
    from exchange.account import DEFAULT_CASH, DEFAULT_SPOT, account_from
    from exchange.auth import ApiKeyError
    from exchange.server import ExchangeServer

    check_port(args.port)  # where the server binds: 127.0.0.1
    check_duration(args.duration)
    if not args.api_host or any(c in args.api_host for c in " /?#"):
        raise UsageError(f"--api-host must be a bare host name, got {args.api_host!r}")
    if (args.api_key_name is None) != (args.api_public_key is None):
        raise UsageError("give --api-key-name and --api-public-key together")
    cash, spot = _account_flags(args)
    account = account_from(DEFAULT_CASH if cash is None else cash, spot or DEFAULT_SPOT)
    if args.new_key and args.api_key_name:
        raise UsageError("--new-key makes the key: it cannot be given with --api-key-name")
    keys = {"api_key_name": args.api_key_name, "api_public_key_pem": args.api_public_key}
    if args.new_key:
        from actors.app.paper import exchange_key_kwargs
        from actors.venue.coinbase_auth import CredentialsError, new_key_file

        try:
            keys = exchange_key_kwargs(new_key_file(args.new_key))
        except CredentialsError as exc:
            raise UsageError(str(exc)) from None
        print(f"wrote a new API key to {args.new_key} (0600); only it is accepted", flush=True)
    try:
        server = ExchangeServer(seed=args.seed, port=args.port, chaos=_chaos(args), api_host=args.api_host,
                                account=account, **keys)
    except ApiKeyError as exc:
        raise UsageError(str(exc)) from None
    with StopSignals() as stop:
        try:
            server.start()
        except OSError as exc:  # taken between the check and the bind
            raise PreflightError(f"--port {args.port}: cannot listen on 127.0.0.1: {exc.strerror or exc}") from None
        try:
            _serve(server, args, stop)
        finally:
            server.stop()
    return EXIT_OK


def _serve(server: Any, args: argparse.Namespace, stop: Any) -> None:
    """Say where the exchange listens, then serve until --duration or SIGINT/SIGTERM."""
    print(f"exchange listening on {server.url}", flush=True)
    print(f"  --rest-url {server.rest_url} --ws-url {server.url} --user-ws-url {server.user_url}", flush=True)
    stop.wait(args.duration)
