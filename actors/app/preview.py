"""`bin/perpsbot orders preview`: what the bot would do with one order, without sending it.

Owns the command's arguments and output: the order quantized for the product
(domain.quantize), every pre-trade check's verdict in order (actors.risk.gate, with
the profile's limits) and the exact JSON body `POST /orders` would carry
(actors.venue.coinbase_orders). The market comes from `--mark X`, or by default from the built-in
exchange's synthetic market (seeded by the profile, or --seed) after 15 minutes of market time,
read the way the bot reads it: the mid as the mark, liquidity metrics from its book and its trade
tape. The account is the profile's starting cash, flat, ACTIVE, unless --equity / --position say
otherwise. Bad arguments, or an order the venue cannot take: one line, exit 2. Must never send
anything or open a socket.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from actors.app.cli import EXIT_OK, UsageError
from actors.execution.orders import client_order_id
from actors.liquidity.metrics import compute_liquidity
from actors.liquidity.snapshot import snapshot_of
from actors.liquidity.tape import SpreadStats, TradeTape
from actors.risk.gate import PreTradeGate
from actors.risk.gate_context import REFUSE, GateContext
from actors.venue.coinbase_orders import OrderBodyError, create_order_body
from domain.control import ACTIVE
from domain.market import LiquiditySnapshot
from domain.orders import OrderIntent
from domain.products import CATALOG, ProductSpec
from domain.quantize import (
    LOCAL_STOP,
    ORDER_TYPES,
    SIDES,
    STOP_DOWN,
    STOP_UP,
    QuantizedOrder,
    Refusal,
    quantize,
)

WARMUP_S = 900.0  # market time the built-in market trades before the snapshot: one volume_15m window
_WARMUP_STEP_S = 30.0
_TWO = Decimal(2)


def _decimal(flag: str, signed: bool = False):
    def parse(text: str) -> Decimal:
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"{flag} must be a number, got {text!r}") from None
        if not value.is_finite() or (not signed and value <= 0):
            raise argparse.ArgumentTypeError(f"{flag} must be a positive number, got {text!r}")
        return value
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--product", required=True, metavar="P", help=f"one of {', '.join(CATALOG)}")
    p.add_argument("--side", required=True, type=str.upper, choices=SIDES)
    p.add_argument("--type", required=True, dest="order_type", type=str.lower, choices=ORDER_TYPES)
    p.add_argument("--size", required=True, type=_decimal("--size"), metavar="S",
                   help="venue units: base currency for spot, contracts for futures")
    p.add_argument("--price", type=_decimal("--price"), metavar="X", help="limit price (limit, stop_limit)")
    p.add_argument("--stop", type=_decimal("--stop"), metavar="Y", help="stop price (stop_limit, stop_market)")
    p.add_argument("--stop-direction", choices=("up", "down"),
                   help="stop_limit, stop_market: trigger going up or down (default: from the stop against the mark)")
    p.add_argument("--tif", type=str.upper, choices=("GTC", "GTD", "IOC", "FOK"), default="",
                   help="time in force (default: IOC for market, GTC otherwise)")
    p.add_argument("--end-time", metavar="T", default="", help="GTD: RFC 3339 time, e.g. 2030-01-01T00:00:00Z")
    p.add_argument("--post-only", action="store_true", help="limit GTC/GTD: never take liquidity")
    p.add_argument("--reduce-only", action="store_true", help="must shrink the position, never flip it")
    p.add_argument("--profile", default="paper", help="limits from this profile (default: paper)")
    p.add_argument("--mark", type=_decimal("--mark"), metavar="X",
                   help="use this mark instead of the built-in exchange's market (no liquidity data)")
    p.add_argument("--seed", type=int, metavar="N", help="the built-in market's seed (default: the profile's)")
    p.add_argument("--equity", type=_decimal("--equity"), metavar="Q",
                   help="account equity (default: the profile's starting cash)")
    p.add_argument("--position", type=_decimal("--position", signed=True), default=Decimal(0), metavar="N",
                   help="current signed position in venue units (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _validate(args: argparse.Namespace) -> ProductSpec:
    spec = CATALOG.get(args.product)
    if spec is None:
        raise UsageError(f"--product: unknown product {args.product!r} (known: {', '.join(sorted(CATALOG))})")
    kind = args.order_type
    if kind in ("limit", "stop_limit") and args.price is None:
        raise UsageError(f"--price is required for a {kind} order")
    if kind in ("market", LOCAL_STOP) and args.price is not None:
        raise UsageError(f"--price applies to limit and stop_limit orders, not {kind}")
    if kind in ("stop_limit", LOCAL_STOP) and args.stop is None:
        raise UsageError(f"--stop is required for a {kind} order")
    if kind not in ("stop_limit", LOCAL_STOP) and (args.stop is not None or args.stop_direction is not None):
        raise UsageError(f"--stop and --stop-direction apply to stop_limit and stop_market orders, not {kind}")
    if args.post_only and kind != "limit":
        raise UsageError(f"--post-only applies to limit orders, not {kind}")
    if args.tif == "GTD" and not args.end_time:
        raise UsageError("--end-time is required with --tif GTD")
    if args.end_time:
        if args.tif != "GTD":
            raise UsageError("--end-time applies only with --tif GTD")
        try:
            end = datetime.fromisoformat(args.end_time.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--end-time must be an RFC 3339 time, got {args.end_time!r}") from None
        if end.tzinfo is None:
            raise UsageError(f"--end-time needs a time zone (e.g. Z), got {args.end_time!r}")
    return spec


def exchange_snapshot(spec: ProductSpec, seed: int, now: float
                      ) -> tuple[Decimal, LiquiditySnapshot, tuple[Decimal, Decimal]]:
    """(mark, liquidity, (best bid, best ask)) of `spec`'s product on the built-in exchange's
    synthetic market after WARMUP_S of market time ending at `now`: its mid, the metrics the
    liquidity actor would compute from the book and the tape, and the top of the book."""
    from exchange.market import SyntheticMarket

    market = SyntheticMarket({spec.product_id: spec}, seed, now - WARMUP_S)
    tape, spreads = TradeTape(), SpreadStats()
    t = now - WARMUP_S
    while t < now:
        t = min(now, t + _WARMUP_STEP_S)
        for product in market.step(t).products:
            for printed in product.trades:
                tape.add_trade(printed.trade.price, spec.base_units(printed.trade.size), printed.ts)
        bids, asks = market.book(spec.product_id)
        if bids and asks:
            spreads.add((asks[0][0] - bids[0][0]) / ((asks[0][0] + bids[0][0]) / _TWO) * 10_000, t)
    bids, asks = market.book(spec.product_id)
    if not bids or not asks:
        raise UsageError(f"the built-in market has no two-sided book for {spec.product_id}; give --mark")
    mark = (bids[0][0] + asks[0][0]) / _TWO
    metrics = compute_liquidity(tuple((p, spec.base_units(s)) for p, s in bids),
                                tuple((p, spec.base_units(s)) for p, s in asks))
    return mark, snapshot_of(spec.product_id, now, metrics, tape.stats(now), spreads.stats(now)), \
        (bids[0][0], asks[0][0])


def preview(args: argparse.Namespace) -> dict[str, Any]:
    """The preview as a JSON-ready dict (raises UsageError on bad arguments)."""
    from config.loader import load_profile

    spec = _validate(args)
    profile = load_profile(args.profile)
    now = time.time()
    liquidity: LiquiditySnapshot | None = None
    top: tuple[Decimal | None, Decimal | None] = (None, None)  # with --mark: no book to cross
    if args.mark is not None:
        mark, source = args.mark, "--mark"
    else:
        seed = profile.run.seed if args.seed is None else args.seed
        mark, liquidity, top = exchange_snapshot(spec, seed, now)
        source = f"built-in exchange, seed {seed}, after {WARMUP_S / 60:g} min of market time"
    direction = {"up": STOP_UP, "down": STOP_DOWN}.get(args.stop_direction or "", "")
    intent_id = (f"preview:{spec.product_id}:{args.side}:{args.order_type}:{args.size}:{args.price}:{args.stop}:"
                 f"{direction}:{args.tif}:{args.end_time}:{args.post_only}:{args.reduce_only}")
    intent = OrderIntent(intent_id=intent_id, product_id=spec.product_id, side=args.side, size=args.size,
                         order_type=args.order_type, limit_price=args.price, post_only=args.post_only,
                         reduce_only=args.reduce_only, time_in_force=args.tif, stop_price=args.stop,
                         stop_direction=direction, end_time=args.end_time, created_at=now)
    order = quantize(intent, spec, mark)
    if isinstance(order, Refusal):
        raise UsageError(f"the order cannot be placed on {spec.product_id}: {order.reason}"
                         + (f" ({order.detail})" if order.detail else ""))
    # A stop-market is held by perpsbot (Coinbase has none): what goes out when it fires is a market order.
    sent = order.as_triggered() if order.order_type == LOCAL_STOP else order
    try:
        body = create_order_body(sent.to_place_order(client_order_id(intent_id)))
    except OrderBodyError as exc:
        raise UsageError(f"the order has no Coinbase shape: {exc}") from None
    equity = args.equity if args.equity is not None else profile.portfolio.starting_cash
    context = GateContext(state=ACTIVE, book_valid=True, book_stale=False, mark=mark, position=args.position,
                          equity=equity, other_gross_exposure=Decimal(0), spec=spec, liquidity=liquidity,
                          tradable=True, now=now, best_bid=top[0], best_ask=top[1])
    verdicts = PreTradeGate.from_config(profile.execution, profile.risk).verdicts(sent, context)
    refusal = next((v.reason for v in verdicts if v.verdict == REFUSE), None)
    return {
        "order": _order_dict(order, args),
        "market": {"mark": str(mark), "source": source,
                   "liquidity": None if liquidity is None else {
                       "spread_bps": f"{liquidity.spread_bps:.2f}", "depth_5pct": f"{liquidity.depth_5pct:.2f}",
                       "volume_15m": f"{liquidity.volume_15m:.2f}", "condition": liquidity.condition}},
        "account": {"equity": str(equity), "position": str(args.position), "state": ACTIVE,
                    "profile": args.profile},
        "checks": [{"check": v.check, "verdict": v.verdict, "reason": v.reason, "detail": v.detail} for v in verdicts],
        "accepted": refusal is None,
        "refusal": refusal,
        "held_locally": sent is not order,  # the body goes when the mark reaches the stop
        "body": body,
    }


def _order_dict(order: QuantizedOrder, args: argparse.Namespace) -> dict[str, Any]:
    def text(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "product_id": order.product_id, "side": order.side, "type": order.order_type,
        "size": text(order.size), "size_asked": text(args.size),
        "limit_price": text(order.limit_price), "price_asked": text(args.price),
        "stop_price": text(order.stop_price), "stop_asked": text(args.stop), "stop_direction": order.stop_direction,
        "time_in_force": order.time_in_force or ("IOC" if order.order_type == "market" else "GTC"),
        "end_time": order.end_time, "post_only": order.post_only, "reduce_only": order.reduce_only,
    }


def render(result: dict[str, Any]) -> str:
    o, m, a = result["order"], result["market"], result["account"]
    order = f"{o['product_id']} {o['side']} {o['type']} size {o['size']}"
    if o["size"] != o["size_asked"]:
        order += f" (asked {o['size_asked']})"
    if o["limit_price"] is not None:
        order += f" limit {o['limit_price']}" + (f" (asked {o['price_asked']})" if o["limit_price"] != o["price_asked"]
                                                 else "")
    if o["stop_price"] is not None:
        order += f" stop {o['stop_price']} {o['stop_direction'].removeprefix('STOP_DIRECTION_STOP_').lower()}"
    order += f" {o['time_in_force']}" + (f" until {o['end_time']}" if o["end_time"] else "")
    order += " post-only" * o["post_only"] + " reduce-only" * o["reduce_only"]
    liq = m["liquidity"]
    lines = [
        "orders preview: nothing is sent",
        f"  order    {order}",
        f"  market   mark {m['mark']} ({m['source']})"
        + (f"  spread {liq['spread_bps']} bps  depth 5% {liq['depth_5pct']}  volume 15m {liq['volume_15m']}"
           f"  {liq['condition']}" if liq else "  no liquidity data"),
        f"  account  equity {a['equity']}  position {a['position']}  state {a['state']}  profile {a['profile']}",
        "  checks",
    ]
    width = max(len(c["check"]) for c in result["checks"])
    for n, c in enumerate(result["checks"], 1):
        detail = (f"{c['reason']}: " if c["reason"] and c["reason"] != c["check"] else "") + c["detail"]
        lines.append(f"    {n:2d} {c['check']:<{width}}  {c['verdict']:<6}  {detail}".rstrip())
    if result["held_locally"]:
        lines.append("  held     by perpsbot until the mark reaches the stop (Coinbase holds no stop-market);"
                     " then checked again and sent as the market order below")
    lines.append("  verdict  " + ("would be sent" if result["accepted"] else f"refused: {result['refusal']}"))
    lines.append(f"  body     {json.dumps(result['body'], separators=(',', ':'))}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    result = preview(args)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return EXIT_OK
