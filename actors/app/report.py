"""The run report: one JSON-ready dict collected from the actors, and its human rendering.

Owns the report's shape (the key names are a contract with operators' scripts: add keys, never
rename) and the fingerprint, SHA-256 over the ordered fills. Decimals are written as strings.
Must never change state: it only asks, with timeouts, and reads metrics.
"""

from __future__ import annotations

import hashlib
import os
import platform
from decimal import Decimal
from typing import Any

from actors.app.exchange_view import differences
from actors.app.tree import USER_STREAM, Tree
from domain.orders import Fill
from domain.queries import FILLS, REPORT


def fingerprint(fills: tuple[Fill, ...] | list[Fill]) -> str:
    digest = hashlib.sha256()
    for f in fills:
        digest.update(f"{f.trade_id}|{f.client_order_id}|{f.product_id}|{f.side}|{f.price}|{f.size}|{f.fee}|"
                      f"{f.liquidity}\n".encode())
    return digest.hexdigest()


_PLACES = Decimal("0.00000001")
IMPACT_PROBE_NOTIONAL = Decimal(10_000)  # liquidity.impact_bps_10k: the estimate for this order size


def _text(value: Any) -> Any:
    """JSON-ready: Decimals become strings, rounded to 8 places (exact values stay as they are)."""
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent  # an int when finite; "n", "N" or "F" otherwise
        return str(value.quantize(_PLACES) if isinstance(exponent, int) and exponent < -8 else value)
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    return value


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def user_feed(tree: Tree) -> dict[str, Any]:
    """The private stream's section: {"enabled": False} when it does not run (no credentials)."""
    if USER_STREAM not in tree.names():
        return {"enabled": False}
    metrics = tree.services.metrics
    feed = tree.ask(USER_STREAM, REPORT, default={}) or {}
    return {
        "enabled": True,
        "url_in_use": feed.get("url_in_use"),
        "frames": feed.get("frames", 0),
        "per_channel": feed.get("per_channel", {}),
        "connects": metrics.value("feed.user_connects"),
        "reconnects": metrics.value("feed.user_reconnects"),
        "failovers": metrics.value("feed.user_failovers"),
        "stalls": metrics.value("feed.user_stalls"),
        "error_frames": feed.get("error_frames", 0),
        "last_error": feed.get("last_error"),
        "last_balance_summary_at": feed.get("last_balance_summary_at"),
    }


def risk_section(tree: Tree, status: dict[str, Any]) -> dict[str, Any]:
    """The runtime guards' current verdicts and what holds the trading state down."""
    risk = tree.ask("risk", REPORT, default={}) or {}
    return {
        "level": risk.get("level"),
        "verdicts": risk.get("verdicts", {}),
        "daily_loss_pct": risk.get("daily_loss_pct"),
        "start_of_day_equity": risk.get("start_of_day_equity"),
        "holds": status.get("holds", {}),
    }


def journal_section(tree: Tree) -> dict[str, Any]:
    """Writes the journal's database refused (each one halts trading) and the last reason."""
    journal = tree.ask("journal", REPORT, default={}) or {}
    return {"write_errors": tree.services.metrics.value("journal.write_errors"),
            "last_error": journal.get("last_error")}


def collect(tree: Tree, mode: str, duration_s: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    metrics = tree.services.metrics
    status = tree.status()
    feed = tree.ask("streaming", REPORT, default={}) or {}
    books = tree.ask("market_data", REPORT, default={}) or {}
    liquidity = tree.ask("liquidity", REPORT, default={}) or {}
    trading = tree.ask("execution", REPORT, default={}) or {}
    portfolio = tree.ask("portfolio", REPORT, default={}) or {}
    fills = tree.ask("venue", FILLS, default=()) or ()
    venue = tree.ask("venue", REPORT, default={}) or {}  # the Coinbase gateway's; the paper venue has none
    restarts_at = [e.ts for e in status["events"] if e.kind == "restarted"]
    latency = metrics.histogram("latency.tick_to_order_us")

    products: dict[str, Any] = {}
    for product_id, book in books.items():
        liq = liquidity.get(product_id)
        products[product_id] = {
            "best_bid": book.get("best_bid"), "best_ask": book.get("best_ask"), "mark": book.get("mark"),
            "bid_levels": book.get("bid_levels"), "ask_levels": book.get("ask_levels"),
            "resyncs": book.get("resyncs"), "valid": book.get("valid"), "book_sha256": book.get("book_sha256"),
            "status": book.get("status"), "status_increment_mismatches": book.get("status_increment_mismatches", 0),
            "liquidity": None if liq is None else {
                "spread_bps": liq.spread_bps, "depth_1pct": liq.depth_1pct, "depth_5pct": liq.depth_5pct,
                "imbalance": liq.imbalance, "score": liq.score, "condition": liq.condition,
                "volume_1m": liq.volume_1m, "volume_5m": liq.volume_5m, "volume_15m": liq.volume_15m,
                "trades_15m": liq.trades_15m, "avg_trade_size_15m": liq.avg_trade_size_15m,
                "spread_avg_5m": liq.spread_avg_5m, "spread_min_5m": liq.spread_min_5m,
                "spread_max_5m": liq.spread_max_5m, "impact_bps_10k": liq.impact_bps(IMPACT_PROBE_NOTIONAL),
            },
        }
    report = {
        "mode": mode,
        "seed": tree.profile.run.seed,
        "duration_s": round(duration_s, 3),
        "fingerprint": fingerprint(fills),
        "feed": {
            "frames": feed.get("frames", 0), "malformed": feed.get("malformed", 0),
            "malformed_kinds": feed.get("malformed_kinds", {}),
            "error_frames": feed.get("error_frames", 0), "unknown": feed.get("unknown", 0),
            "gaps": feed.get("gaps", 0), "reconnects": metrics.value("feed.reconnects"),
            "heartbeat_gaps": feed.get("heartbeat_gaps", 0), "duplicates": feed.get("duplicates", 0),
            "resync_requests": metrics.value("feed.resync_requests"),
            "stalls": metrics.value("feed.stalls"), "resyncs": metrics.value("feed.resyncs"),
            "rest_fallbacks": metrics.value("feed.rest_fallbacks"),
        },
        "user_feed": user_feed(tree),
        "products": products,
        "trading": {
            "state": status.get("trading_state"),
            "state_reason": status.get("state_reason"),
            "intents": metrics.value("trading.intents"),
            "orders": trading.get("orders", 0),
            # Distinct fills execution accounted: the venue's own list restarts with a restarted gateway.
            "fills": trading.get("fills", len(fills)),
            "fills_after_last_restart": sum(1 for f in fills if f.ts > restarts_at[-1]) if restarts_at else None,
            "rejects": trading.get("rejects", 0),
            "partial_fills": trading.get("partial_fills", 0),
            "maker_fills": trading.get("maker_fills", 0),
            "taker_fills": trading.get("taker_fills", 0),
            # The user channel carries no maker/taker flag: fills learned from it count here.
            "unknown_liquidity_fills": max(0, trading.get("fills", 0) - trading.get("maker_fills", 0)
                                           - trading.get("taker_fills", 0)),
            "refusals": trading.get("refusals", {}),
            "blocked_stale": trading.get("refusals", {}).get("stale_book", 0),
            "blocked_impact": trading.get("refusals", {}).get("impact", 0),
            "open_orders": trading.get("open_orders", 0),
            "stops_armed": trading.get("stops_armed", 0),  # held by execution: Coinbase has no stop-market
            "stops_triggered": metrics.value("trading.stops_triggered"),
            "replaced": metrics.value("trading.replaced"),
            # The Coinbase gateway's counters (process-wide); the in-process paper venue has neither.
            "unknown_outcomes": metrics.value("venue.unknown_outcomes"),
            "unknown_settled": metrics.value("venue.unknown_settled"),
            "unsettled_orders": venue.get("in_flight", 0),  # sent, fate at the venue not known yet
            "throttled": metrics.value("venue.throttled"),
            "realized_pnl": portfolio.get("realized_pnl"),
            "unrealized_pnl": portfolio.get("unrealized_pnl"),
            "fees": portfolio.get("fees"),
            "funding": portfolio.get("funding"),
            "equity": portfolio.get("equity"),
            "margin_used": portfolio.get("margin_used"),
            "margin_available": portfolio.get("margin_available"),
            "drawdown": portfolio.get("drawdown"),
        },
        "positions": portfolio.get("positions", {}),
        "supervision": {
            "restarts": {name: n for name, n in status["restarts"].items()},
            "escalations": status["escalations"],
            "events": [f"{e.kind} {e.child}#{e.epoch} {e.detail}".strip() for e in status["events"]
                       if e.kind not in ("started", "stopped")],
        },
        "latency_us": {
            "tick_to_order": {"n": latency.count, "p50": latency.percentile(50), "p99": latency.percentile(99)},
        },
        "risk": risk_section(tree, status),
        "journal": journal_section(tree),
        "reconcile": {"runs": metrics.value("reconcile.runs"), "answered": metrics.value("reconcile.answered"),
                      "after_reconnect": metrics.value("reconcile.after_reconnect"),
                      "fills_repaired": metrics.value("reconcile.fills_repaired"),
                      "clean_checks": metrics.value("reconcile.clean_checks"),
                      "mismatches": metrics.value("reconcile.mismatches"),
                      "last_clean_ts": portfolio.get("last_clean_reconcile")},
        "backups": metrics.value("backup.snapshots"),
        "machine": machine(),
    }
    if extra:
        report.update(extra)
    return _text(report)


def render_recovery(recovery: dict[str, Any]) -> list[str]:
    """The start's recovery in a few lines (a `run`)."""
    lines = [f"  recovery  from {recovery['started_from']}  journal fills {recovery['journal_fills']}"
             f"  inferred {recovery['venue_fills_inferred']}  intents settled {recovery['intents_settled']}"
             f"  foreign orders {recovery['foreign_orders']}  adopted {recovery.get('orders_adopted', 0)}"
             f"  {recovery['seconds']}s  {'clean' if recovery['clean'] else 'NOT CLEAN'}"
             + (f"  ({recovery['detail']})" if recovery.get("detail") else "")]
    for pid, pair in sorted(recovery["position_mismatches"].items()):
        lines.append(f"  MISMATCH  {pid}: journal {pair['journal']}, venue {pair['venue']}")
    return lines


def render(report: dict[str, Any]) -> str:
    if "trading" not in report:  # a `run --strict-reconcile` that stopped at its recovery
        return "\n".join([f"perpsbot {report['mode']}: stopped at the start's reconciliation",
                          *render_recovery(report["recovery"])])
    t = report["trading"]
    f = report["feed"]
    lines = [
        f"perpsbot {report['mode']} run: {report['duration_s']}s, seed {report['seed']}, state {t['state']}",
        f"  feed      frames {f['frames']}  gaps {f['gaps']}  reconnects {f['reconnects']}  malformed "
        f"{f['malformed']}  error frames {f['error_frames']}  unknown {f['unknown']}  stalls {f['stalls']}"
        f"  resyncs {f['resyncs']}  rest fallbacks {f['rest_fallbacks']}"
        + (" (malformed: " + ", ".join(f"{k} {n}" for k, n in sorted(f["malformed_kinds"].items())) + ")"
           if f.get("malformed_kinds") else ""),
        _render_user_feed(report.get("user_feed")),
        f"  trading   intents {t['intents']}  orders {t['orders']}  fills {t['fills']}  rejects {t['rejects']}"
        f"  open {t['open_orders']}  stops armed {t['stops_armed']} fired {t['stops_triggered']}"
        f"  replaced {t['replaced']}"
        + (f"  fills after last restart {t['fills_after_last_restart']}" if t["fills_after_last_restart"] is not None
           else ""),
        f"  pnl       equity {t['equity']}  realized {t['realized_pnl']}  unrealized {t['unrealized_pnl']}"
        f"  fees {t['fees']}  funding {t['funding']}",
    ]
    if report.get("recovery"):
        lines += render_recovery(report["recovery"])
    for product_id, pos in report["positions"].items():
        lines.append(f"  position  {product_id}: {pos['size']} @ {pos['entry']}")
    for product_id, p in report["products"].items():
        liq = p["liquidity"] or {}
        lines.append(f"  book      {product_id}: {p['best_bid']} / {p['best_ask']}  levels {p['bid_levels']}/"
                     f"{p['ask_levels']}  resyncs {p['resyncs']}  liquidity {liq.get('condition')} "
                     f"({liq.get('spread_bps', '-')} bps)")
    s = report["supervision"]
    restarted = {k: v for k, v in s["restarts"].items() if v}
    risk = report.get("risk") or {}
    held = "  ".join(f"{source} {why}" for source, why in (risk.get("holds") or {}).items())
    lines.append(f"  risk      guards {risk.get('level')}  day loss {risk.get('daily_loss_pct')}%"
                 + (f"  held by {held}" if held else ""))
    journal = report.get("journal") or {}
    if journal.get("write_errors"):
        lines.append(f"  journal   write errors {journal['write_errors']}  last {journal.get('last_error')}")
    rec = report.get("reconcile") or {}
    if rec.get("runs"):
        lines.append(f"  reconcile runs {rec['runs']}  answered {rec['answered']}  fills repaired {rec['fills_repaired']}"
                     f"  clean {rec['clean_checks']}  mismatches {rec['mismatches']}")
    lines.append(f"  supervision restarts {restarted or 'none'}  escalations {s['escalations']}")
    for event in s["events"]:
        lines.append(f"    {event}")
    venue = report.get("exchange")
    if venue is not None:
        if venue.get("matches"):
            lines.append(f"  venue     matches the bot: {venue.get('orders')} orders, {venue.get('fills')} fills")
        else:
            for line in differences(venue, report["positions"]) or ["positions differ"]:
                lines.append(f"  MISMATCH  bot and venue disagree: {line}")
    lat = report["latency_us"]["tick_to_order"]
    if lat["n"]:
        lines.append(f"  latency   tick-to-order n={lat['n']} p50={lat['p50']:.0f}us p99={lat['p99']:.0f}us")
    lines.append(f"  fingerprint {report['fingerprint']}")
    return "\n".join(lines)


def _render_user_feed(user: dict[str, Any] | None) -> str:
    if not user or not user.get("enabled"):
        return "  user feed off (no credentials)"
    channels = "  ".join(f"{name} {n}" for name, n in sorted(user["per_channel"].items())) or "no frames"
    return (f"  user feed {channels}  connects {user['connects']}  failovers {user['failovers']}"
            f"  error frames {user['error_frames']}  via {user['url_in_use']}")
