"""The synthetic market (determinism, book invariants, trends, trades) and the frames built from it."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from domain.matching import Trade
from domain.products import BTC_PERP, BTC_USD, CATALOG
from exchange import frames
from exchange.market import DOWN, QUIET, RECENT_TRADES, UP, SyntheticMarket
from exchange.market_values import LevelChange, MarketTrade, TickerStats

T0 = 1_795_470_000.0  # 2026-11-23T21:40:00Z
SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id


def run(market: SyntheticMarket, seconds: float, every: float = 0.1):
    """Step the market from T0 in equal increments; yields each MarketStep."""
    steps = round(seconds / every)
    for i in range(1, steps + 1):
        yield market.step(T0 + i * every)


def apply(book: dict[tuple[str, Decimal], Decimal], changes) -> None:
    for change in changes:
        if change.size == 0:
            book.pop((change.side, change.price), None)
        else:
            book[(change.side, change.price)] = change.size


def as_dict(market: SyntheticMarket, product_id: str) -> dict[tuple[str, Decimal], Decimal]:
    bids, offers = market.book(product_id)
    return {**{("bid", p): q for p, q in bids}, **{("offer", p): q for p, q in offers}}


def mid(market: SyntheticMarket, product_id: str) -> Decimal:
    bids, offers = market.book(product_id, depth=1)
    return (bids[0][0] + offers[0][0]) / 2


# --------------------------------------------------------------------- determinism


def test_same_seed_and_step_times_give_the_same_steps_and_frames():
    a = SyntheticMarket(CATALOG, seed=11, start_ts=T0)
    b = SyntheticMarket(CATALOG, seed=11, start_ts=T0)
    assert a.book(SPOT) == b.book(SPOT) and a.book(PERP) == b.book(PERP)
    for step_a, step_b in zip(run(a, 20), run(b, 20)):
        assert step_a == step_b
        for product in step_a.products:
            spec = CATALOG[product.product_id]
            changes_b = step_b.of(product.product_id).changes
            frame_a = frames.l2_update(step_a.ts, spec, product.changes, step_a.ts).render(3)
            frame_b = frames.l2_update(step_b.ts, spec, changes_b, step_b.ts).render(3)
            assert frame_a == frame_b


def test_different_seeds_give_different_markets():
    a = SyntheticMarket(CATALOG, seed=1, start_ts=T0)
    b = SyntheticMarket(CATALOG, seed=2, start_ts=T0)
    assert a.book(SPOT) != b.book(SPOT)


def test_trades_and_book_depend_on_market_time_not_on_how_often_it_is_stepped():
    fine = SyntheticMarket(CATALOG, seed=5, start_ts=T0)
    coarse = SyntheticMarket(CATALOG, seed=5, start_ts=T0)
    fine_steps, coarse_steps = list(run(fine, 21, every=0.1)), list(run(coarse, 21, every=0.7))
    for product_id in CATALOG:
        fine_trades = [t for s in fine_steps for t in s.of(product_id).trades]
        coarse_trades = [t for s in coarse_steps for t in s.of(product_id).trades]
        assert fine_trades and fine_trades == coarse_trades
    assert fine.book(SPOT) == coarse.book(SPOT) and fine.book(PERP) == coarse.book(PERP)


# --------------------------------------------------------------------- book invariants


def test_book_is_never_crossed_and_keeps_a_ladder_on_both_sides():
    market = SyntheticMarket(CATALOG, seed=3, start_ts=T0)
    for _ in run(market, 120):
        for product_id in CATALOG:
            bids, offers = market.book(product_id)
            assert bids[0][0] < offers[0][0]
            assert 10 <= len(bids) <= 40 and 10 <= len(offers) <= 40


def test_prices_and_sizes_are_on_each_products_grid():
    market = SyntheticMarket(CATALOG, seed=4, start_ts=T0)
    for _ in run(market, 10):
        pass
    for product_id, spec in CATALOG.items():
        bids, offers = market.book(product_id)
        for price, size in bids + offers:
            assert price % spec.price_increment == 0
            assert size % spec.base_increment == 0 and size > 0
    # spot levels hold 0.01-2 BTC (plus what takers left), perp levels 1-50 whole contracts
    assert all(Decimal("0.00000001") <= q <= 2 for _, q in sum(market.book(SPOT), []))
    assert all(1 <= q <= 50 and q == q.to_integral_value() for _, q in sum(market.book(PERP), []))


def test_level_changes_rebuild_the_book_exactly():
    market = SyntheticMarket(CATALOG, seed=6, start_ts=T0)
    rebuilt = {p: as_dict(market, p) for p in CATALOG}
    for step in run(market, 30, every=0.3):
        for product in step.products:
            apply(rebuilt[product.product_id], product.changes)
            assert rebuilt[product.product_id] == as_dict(market, product.product_id)


# --------------------------------------------------------------------- trends


def test_trends_move_the_price_their_way_and_quiet_spells_move_little():
    market = SyntheticMarket(CATALOG, seed=1, start_ts=T0)
    moves = {UP: [], DOWN: [], QUIET: []}  # (log-ish relative move, seconds) per finished regime
    regime, since, fair_then = market.regime, T0, market.fair_value(SPOT)
    for step in run(market, 400, every=0.5):
        if market.regime != regime:
            fair_now = market.fair_value(SPOT)
            moves[regime].append(((fair_now - fair_then) / fair_then, step.ts - since))
            regime, since, fair_then = market.regime, step.ts, fair_now
        perp, spot = mid(market, PERP), mid(market, SPOT)
        assert abs(perp / spot - 1) < Decimal("0.006")  # the perp tracks spot within its basis
    assert all(moves.values()), moves
    # drift is 0.3-1.5 bp/s over 10-90 s per trend; noise over a trend is ~5 bp
    assert sum(m for m, _ in moves[UP]) > Decimal("0.001")
    assert sum(m for m, _ in moves[DOWN]) < Decimal("-0.001")

    def speed(regime_moves):
        return sum(abs(m) for m, _ in regime_moves) / sum(Decimal(s) for _, s in regime_moves)

    assert speed(moves[QUIET]) * 3 < speed(moves[UP] + moves[DOWN])


# --------------------------------------------------------------------- trades


def test_takers_print_trades_against_the_makers():
    market = SyntheticMarket(CATALOG, seed=8, start_ts=T0)
    volume_before = market.ticker(SPOT).volume_24_h
    printed: dict[str, list[MarketTrade]] = {p: [] for p in CATALOG}
    for step in run(market, 60):
        for product in step.products:
            for trade in product.trades:
                assert step.ts - 0.1 <= trade.ts <= step.ts
            printed[product.product_id].extend(product.trades)
    for product_id, trades in printed.items():
        assert 30 <= len(trades) <= 600  # a few per second for 60 s
        for t in trades:
            assert (t.trade.taker_owner, t.trade.maker_owner) == ("taker", "mm")
            assert t.trade.aggressor_side in ("BUY", "SELL") and t.trade.size > 0
        assert {t.trade.aggressor_side for t in trades} == {"BUY", "SELL"}
        assert market.ticker(product_id).price == trades[-1].trade.price
        assert market.recent_trades(product_id) == tuple(trades[-RECENT_TRADES:])
    traded = sum(t.trade.size for t in printed[SPOT])
    assert market.ticker(SPOT).volume_24_h == volume_before + traded


def test_outside_orders_trade_with_the_market_and_print_in_the_next_step():
    market = SyntheticMarket(CATALOG, seed=9, start_ts=T0)
    best_ask = market.book(SPOT, depth=1)[1][0]
    result = market.submit(SPOT, T0 + 0.05, order_id="bot-1", owner="bot", side="BUY",
                           size=Decimal("0.001"), order_type="market")
    assert result.status == "FILLED" and result.trades[0].price == best_ask[0]
    step = market.step(T0 + 0.05)
    assert [t.trade for t in step.of(SPOT).trades][:1] == [result.trades[0]]
    assert step.of(SPOT).trades[0].ts == T0 + 0.05

    # a resting sell at the best offer is eventually lifted by the takers
    ask = market.book(SPOT, depth=1)[1][0][0]
    market.submit(SPOT, T0 + 0.05, order_id="bot-2", owner="bot", side="SELL",
                  size=Decimal("0.00100000"), order_type="limit", limit_price=ask)
    bot_fills = []
    for i in range(1, 601):
        step = market.step(T0 + 0.05 + i * 0.1)
        bot_fills += [t for t in step.of(SPOT).trades if t.trade.maker_owner == "bot"]
        bids, offers = market.book(SPOT, depth=1)
        assert bids[0][0] < offers[0][0]
    assert sum(t.trade.size for t in bot_fills) == Decimal("0.001")


# --------------------------------------------------------------------- frames (values worked out by hand)


def test_l2_snapshot_frame_matches_coinbase_shape():
    frame = frames.l2_snapshot(
        1_795_470_001.12, BTC_USD,
        bids=[(Decimal("91234.55"), Decimal("0.42"))],
        offers=[(Decimal("91234.56"), Decimal("0.05")), (Decimal("91235.2"), Decimal("2"))],
        event_ts=1_795_470_001.118,
    ).render(2)
    assert frame == (
        '{"channel":"l2_data","client_id":"","timestamp":"2026-11-23T21:40:01.120000000Z","sequence_num":2,'
        '"events":[{"type":"snapshot","product_id":"BTC-USD","updates":['
        '{"side":"bid","event_time":"2026-11-23T21:40:01.118000Z","price_level":"91234.55","new_quantity":"0.42000000"},'
        '{"side":"offer","event_time":"2026-11-23T21:40:01.118000Z","price_level":"91234.56","new_quantity":"0.05000000"},'
        '{"side":"offer","event_time":"2026-11-23T21:40:01.118000Z","price_level":"91235.20","new_quantity":"2.00000000"}]}]}'
    )


def test_perp_update_uses_whole_contracts_and_zero_removes():
    changes = [
        LevelChange("bid", Decimal("91235"), Decimal("7")),
        LevelChange("offer", Decimal("91240"), Decimal(0)),
    ]
    frame = json.loads(frames.l2_update(1_795_470_001.35, BTC_PERP, changes, 1_795_470_001.349001).render(3))
    assert frame["sequence_num"] == 3
    assert frame["events"] == [{"type": "update", "product_id": PERP, "updates": [
        {"side": "bid", "event_time": "2026-11-23T21:40:01.349001Z", "price_level": "91235", "new_quantity": "7"},
        {"side": "offer", "event_time": "2026-11-23T21:40:01.349001Z", "price_level": "91240", "new_quantity": "0"},
    ]}]


def test_heartbeat_subscriptions_error_and_trade_frames():
    beat = json.loads(frames.heartbeat(1_795_470_001.0, 5012, 5012.5).render(1))
    assert beat["channel"] == "heartbeats" and beat["events"] == [
        {"current_time": "2026-11-23 21:40:01.000000000 +0000 UTC m=+5012.500000000", "heartbeat_counter": 5012}]
    current = {"level2": ["BTC-USD"], "heartbeats": []}
    ack = json.loads(frames.subscriptions(1_795_470_000.1, current).render(0))
    assert ack == {"channel": "subscriptions", "client_id": "", "timestamp": "2026-11-23T21:40:00.100000000Z",
                   "sequence_num": 0, "events": [{"subscriptions": current}]}
    assert frames.error("bad") == '{"type":"error","message":"bad"}'
    engine_trade = Trade("812345001", "m", "t", "mm", "taker", Decimal("91234.56"), Decimal("0.05"), "BUY")
    trade = MarketTrade(SPOT, 1_795_470_001.349001, engine_trade)
    prints = json.loads(frames.market_trades(1_795_470_001.41, frames.UPDATE, BTC_USD, [trade]).render(5))
    assert prints["events"] == [{"type": "update", "trades": [
        {"trade_id": "812345001", "product_id": "BTC-USD", "price": "91234.56", "size": "0.05000000",
         "side": "BUY", "time": "2026-11-23T21:40:01.349001Z"}]}]


def test_ticker_frame_formats_every_field():
    stats = TickerStats(
        SPOT, Decimal("91234.56"), Decimal("15328.12345678"), Decimal("89500.01"), Decimal("92200"),
        Decimal("49000"), Decimal("126000"), Decimal("1.8537"), Decimal("91234.55"), Decimal("0.37"),
        None, Decimal(0),
    )
    frame = json.loads(frames.ticker(1_795_470_001.4, frames.UPDATE, BTC_USD, stats).render(4))
    assert frame["channel"] == "ticker"
    assert frame["events"] == [{"type": "update", "tickers": [{
        "type": "ticker", "product_id": "BTC-USD", "price": "91234.56", "volume_24_h": "15328.12345678",
        "low_24_h": "89500.01", "high_24_h": "92200.00", "low_52_w": "49000.00", "high_52_w": "126000.00",
        "price_percent_chg_24_h": "1.85370000", "best_bid": "91234.55", "best_bid_quantity": "0.37000000",
        "best_ask": "", "best_ask_quantity": "0"}]}]


@pytest.mark.parametrize("ts, text", [(1_795_470_001.9999999, "2026-11-23T21:40:02.000000Z"),
                                      (1_795_470_001.118, "2026-11-23T21:40:01.118000Z")])
def test_event_times_round_to_the_microsecond(ts, text):
    assert frames.rfc3339_micros(ts) == text
