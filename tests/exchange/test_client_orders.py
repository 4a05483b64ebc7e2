"""The built-in exchange's API client core: orders on the synthetic market's engines, fills, fees,
positions and the paper account, against books laid out by hand (every synthetic order removed and
the market never stepped forward in time, so nothing moves unless a test moves it)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.matching import BID, BUY, SELL
from domain.products import BTC_PERP, BTC_USD, CATALOG
from exchange import failure_reasons as reasons
from exchange.account import PaperAccount
from exchange.client_orders import ClientOrders
from exchange.failure_reasons import CREATE_REASONS, PREVIEW_REASONS, preview_reason
from exchange.market import SyntheticMarket
from exchange.orders import (
    CANCELLED,
    CLIENT,
    EXPIRED,
    FILLED,
    MAKER,
    OPEN,
    STOP_PENDING,
    STOP_TRIGGERED,
    TAKER,
    OrderRequest,
    OrderView,
    Refusal,
)

D = Decimal
T = 1_800_000_000.0  # 2027-01-15T08:00:00Z, on the hour
SPOT = BTC_USD.product_id
PERP = BTC_PERP.product_id


class Rig:
    """A market with empty books, a client with 100,000 USD of futures cash and 1,000 USD spot."""

    def __init__(self, cfm: str = "100000", cbi: str = "1000") -> None:
        self.market = SyntheticMarket(CATALOG, seed=7, start_ts=T)
        for product_id in CATALOG:
            engine = self.market.engine(product_id)
            for order in engine.resting_orders():
                engine.cancel(order.order_id)
            engine.drain_changes()
        self.client = ClientOrders(self.market, CATALOG, PaperAccount(D(cfm), D(cbi), spot_assets=()), seed=3, start_ts=T)
        self._seq = 0

    def maker(self, product_id: str, side: str, price: str, size: str, owner: str = "mm") -> str:
        self._seq += 1
        order_id = f"{owner}-{self._seq}"
        result = self.market.submit(product_id, T, order_id, owner, side, D(size), "limit", D(price))
        assert result.status == "OPEN" and not result.trades
        return order_id

    def taker(self, product_id: str, side: str, size: str) -> None:
        """A synthetic taker's market order, then the step that shows it to the client."""
        self._seq += 1
        self.market.submit(product_id, T, f"taker-{self._seq}", "taker", side, D(size), "market")
        self.step()

    def step(self, now: float = T) -> None:
        self.client.on_market_step(self.market.step(now), now)

    def order(self, cid: str, product_id: str, side: str, kind: str, now: float = T, **fields: str) -> OrderView:
        outcome = self.client.create(request(cid, product_id, side, kind, **fields), now)
        assert isinstance(outcome, OrderView), outcome
        return outcome

    def refused(self, cid: str, product_id: str, side: str, kind: str, **fields: str) -> str:
        outcome = self.client.create(request(cid, product_id, side, kind, **fields), T)
        assert isinstance(outcome, Refusal), outcome
        assert self.client.order_by_client_id(cid) is None  # a refused order does not exist
        return outcome.code

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {b.currency: (b.balance, b.hold) for b in self.client.spot_balances()}


def request(cid: str, product_id: str, side: str, kind: str, **fields: str) -> OrderRequest:
    """An OrderRequest as the REST layer parses it; decimal fields given as strings."""
    decimals = {k: D(v) for k, v in fields.items()
                if k in ("base_size", "quote_size", "limit_price", "stop_price", "leverage")}
    extra = {k: v for k, v in fields.items() if k not in decimals}
    if "end_ts" in extra:
        extra["end_ts"] = float(extra["end_ts"])
    post_only = extra.pop("post_only", "") == "true"
    return OrderRequest(cid, product_id, side, kind, dict(fields), post_only=post_only, **decimals, **extra)


@pytest.fixture
def rig() -> Rig:
    return Rig()


# --------------------------------------------------------------------- takers


def test_a_market_buy_walks_the_book_pays_the_taker_fee_and_settles_the_balances(rig):
    rig.maker(SPOT, SELL, "100.00", "0.5")
    rig.maker(SPOT, SELL, "101.00", "1")
    order = rig.order("c1", SPOT, BUY, "market_market_ioc", base_size="1")
    # 0.5 x 100 + 0.5 x 101 = 100.50 notional; fee 100.50 x 0.0006 = 0.0603
    assert (order.status, order.filled_size, order.number_of_fills) == (FILLED, D("1"), 2)
    assert (order.average_filled_price, order.filled_value, order.total_fees) == (D("100.5"), D("100.5"), D("0.0603"))
    assert order.leaves_size == 0 and order.total_value_after_fees == D("100.5603")
    fills = rig.client.fills()
    assert [(f.price, f.size, f.liquidity) for f in reversed(fills)] == [(D("100"), D("0.5"), TAKER),
                                                                        (D("101"), D("0.5"), TAKER)]
    assert len({f.trade_id for f in fills}) == 2 and sum(f.commission for f in fills) == D("0.0603")
    assert rig.balances()["USD"] == (D("899.4397"), 0) and rig.balances()["BTC"] == (D("1"), 0)
    assert rig.market.book(SPOT)[1] == [(D("101.00"), D("0.5"))]  # what is left for everyone
    step = rig.market.step(T)  # the client's trades print like any taker's
    assert [(t.trade.price, t.trade.aggressor_side) for t in step.of(SPOT).trades] == [(D("100"), BUY), (D("101"), BUY)]


def test_a_repeated_client_order_id_returns_the_original_and_creates_nothing(rig):
    rig.maker(PERP, SELL, "90000", "10")
    first = rig.order("c1", PERP, BUY, "market_market_ioc", base_size="2")
    again = rig.order("c1", PERP, BUY, "market_market_ioc", base_size="5")  # even with other terms
    assert again.order_id == first.order_id and again.filled_size == D("2")
    assert len(rig.client.orders()) == 1 and len(rig.client.fills()) == 1
    assert rig.client.perp_positions(T)[0].net_size == D("2")
    assert rig.market.book(PERP)[1] == [(D("90000"), D("8"))]


def test_market_buy_by_quote_funds_buys_what_the_funds_reach_on_the_grid(rig):
    rig.maker(SPOT, SELL, "100.00", "0.5")
    rig.maker(SPOT, SELL, "200.00", "1")
    order = rig.order("q1", SPOT, BUY, "market_market_ioc", quote_size="60.00")
    # 0.5 at 100 (50 USD), then 10 USD buys 0.05 at 200
    assert (order.status, order.filled_size, order.filled_value) == (FILLED, D("0.55"), D("60"))
    assert order.quote_size == D("60.00")


def test_fok_that_cannot_fill_is_cancelled_untouched_and_ioc_drops_its_remainder(rig):
    rig.maker(PERP, SELL, "90000", "3")
    fok = rig.order("f1", PERP, BUY, "limit_limit_fok", base_size="4", limit_price="90000")
    assert (fok.status, fok.filled_size, fok.cancel_reason) == (CANCELLED, 0, "FOK_NOT_FILLABLE")
    ioc = rig.order("i1", PERP, BUY, "sor_limit_ioc", base_size="4", limit_price="90000")
    assert (ioc.status, ioc.filled_size, ioc.leaves_size) == (CANCELLED, D("3"), 0)
    assert rig.market.book(PERP) == ([], [])  # nothing of the IOC rests


# --------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("product_id", "side", "kind", "fields", "code"),
    [
        ("DOGE-USD", BUY, "limit_limit_gtc", {"base_size": "1", "limit_price": "1"}, reasons.INVALID_PRODUCT_ID),
        (SPOT, BUY, "limit_limit_gtc", {"base_size": "0.000000001", "limit_price": "50"},
         "UNKNOWN_FAILURE_REASON"),  # under the minimum: Coinbase names it in the preview reason only
        (PERP, BUY, "limit_limit_gtc", {"base_size": "1.5", "limit_price": "80000"}, reasons.INVALID_SIZE_PRECISION),
        (PERP, BUY, "limit_limit_gtc", {"base_size": "0", "limit_price": "80000"}, "UNKNOWN_FAILURE_REASON"),
        (PERP, BUY, "limit_limit_gtc", {"base_size": "1", "limit_price": "80001"}, reasons.INVALID_PRICE_PRECISION),
        (SPOT, BUY, "limit_limit_gtc", {"base_size": "1", "limit_price": "50.001"}, reasons.INVALID_PRICE_PRECISION),
        # futures trade contracts
        (PERP, BUY, "market_market_ioc", {"quote_size": "100"}, reasons.INVALID_SIZE_PRECISION),
        (SPOT, BUY, "market_market_fok", {"base_size": "0.1"}, reasons.UNSUPPORTED_ORDER_CONFIGURATION),
        (PERP, SELL, "stop_limit_stop_limit_gtc", {"base_size": "1", "limit_price": "80000",
                                                   "stop_price": "80003", "stop_direction": "STOP_DIRECTION_STOP_DOWN"},
         reasons.INVALID_PRICE_PRECISION),
        (PERP, BUY, "limit_limit_gtd", {"base_size": "1", "limit_price": "80000", "end_time": "x",
                                        "end_ts": str(T - 1)}, "INVALID_REQUEST"),
        (PERP, BUY, "limit_limit_gtc", {"base_size": "1", "limit_price": "80000", "leverage": "11"},
         "INVALID_LEVERAGE"),  # initial margin 10%: 10x at most
    ],
)
def test_invalid_orders_are_refused_with_the_reason(rig, product_id, side, kind, fields, code):
    assert rig.refused("bad", product_id, side, kind, **fields) == code
    assert rig.client.orders() == [] and rig.client.drain_changes() == []


def test_a_crossing_post_only_is_refused_and_a_resting_one_is_a_maker(rig):
    rig.maker(SPOT, SELL, "100.00", "1")
    assert rig.refused("p1", SPOT, BUY, "limit_limit_gtc", base_size="1", limit_price="100.00",
                       post_only="true") == reasons.INVALID_LIMIT_PRICE_POST_ONLY
    resting = rig.order("p1", SPOT, BUY, "limit_limit_gtc", base_size="1", limit_price="99.99", post_only="true")
    assert resting.status == OPEN and resting.post_only
    assert rig.market.book(SPOT)[0] == [(D("99.99"), D("1"))]


def test_the_account_must_pay_spot_buys_deliver_spot_sells_and_margin_futures():
    rig = Rig(cfm="1000", cbi="100")
    rig.maker(SPOT, SELL, "100.00", "5")
    # 1 x 100 plus the 0.06 taker fee is more than 100 USD
    assert rig.refused("s1", SPOT, BUY, "limit_limit_gtc", base_size="1", limit_price="100.00") \
        == reasons.INSUFFICIENT_FUND
    assert rig.refused("s2", SPOT, SELL, "limit_limit_gtc", base_size="0.1", limit_price="200.00") \
        == reasons.INSUFFICIENT_FUND
    # 2 contracts x 0.01 x 90000 = 1800 notional: 180 initial margin + 1.08 fee fits in 1000 ...
    rig.maker(PERP, SELL, "90000", "100")
    rig.order("f1", PERP, BUY, "market_market_ioc", base_size="2")
    # ... leaving 1000 - 1.08 - 180 = 818.92 available; a contract more needs 90 margin + 0.54 fee
    assert rig.client.summary(T).available_margin == D("818.92")
    assert rig.refused("f2", PERP, BUY, "limit_limit_gtc", base_size="10", limit_price="90000") \
        == reasons.INSUFFICIENT_FUND
    assert rig.order("f2", PERP, BUY, "limit_limit_gtc", base_size="9", limit_price="90000").status == FILLED
    assert rig.refused("f3", PERP, BUY, "market_market_ioc", base_size="1") == reasons.INSUFFICIENT_FUND
    rig.maker(PERP, BUY, "89995", "20")
    assert rig.order("f4", PERP, SELL, "market_market_ioc", base_size="11").status == FILLED  # closing needs no margin


def test_a_resting_spot_buy_holds_its_cost_and_fee(rig):
    order = rig.order("h1", SPOT, BUY, "limit_limit_gtc", base_size="4", limit_price="200.00")
    # 4 x 200 = 800, plus 0.0006 = 800.48 held
    assert order.outstanding_hold == D("800.48")
    assert rig.balances()["USD"] == (D("1000"), D("800.48"))
    assert rig.refused("h2", SPOT, BUY, "limit_limit_gtc", base_size="1", limit_price="200.00") \
        == reasons.INSUFFICIENT_FUND
    rig.client.cancel([order.order_id], T)
    assert rig.balances()["USD"] == (D("1000"), 0)


def test_an_order_that_would_rest_crossing_the_client_s_own_is_refused(rig):
    rig.order("a1", PERP, SELL, "limit_limit_gtc", base_size="1", limit_price="90000")
    assert rig.refused("a2", PERP, BUY, "limit_limit_gtc", base_size="1", limit_price="90005") \
        == reasons.COMMANDER_REJECTED_NEW_ORDER


# --------------------------------------------------------------------- resting orders


def test_a_resting_limit_is_filled_by_synthetic_takers_as_a_maker(rig):
    order = rig.order("m1", PERP, BUY, "limit_limit_gtc", base_size="10", limit_price="90000")
    assert rig.client.drain_changes()[0].status == OPEN
    rig.taker(PERP, SELL, "4")
    partial = rig.client.order(order.order_id)
    # 4 contracts x 0.01 x 90000 = 3600 notional, maker fee 0.0004 -> 1.44
    assert (partial.status, partial.filled_size, partial.leaves_size, partial.total_fees) == (OPEN, D(4), D(6), D("1.44"))
    assert [(o.order_id, o.filled_size) for o in rig.client.drain_changes()] == [(order.order_id, D(4))]
    rig.taker(PERP, SELL, "7")  # one more than is left: the rest goes nowhere
    done = rig.client.order(order.order_id)
    assert (done.status, done.filled_size, done.number_of_fills, done.leaves_size) == (FILLED, D(10), 2, 0)
    assert {f.liquidity for f in rig.client.fills()} == {MAKER}
    position = rig.client.perp_positions(T)[0]
    assert (position.net_size, position.entry_price) == (D(10), D(90000))
    assert rig.market.engine(PERP).resting_orders(CLIENT) == []


def test_cancel_reports_per_order_and_takes_the_order_off_the_book(rig):
    a = rig.order("a", PERP, BUY, "limit_limit_gtc", base_size="1", limit_price="80000")
    b = rig.order("b", PERP, BUY, "limit_limit_gtc", base_size="1", limit_price="80005")
    results = rig.client.cancel([a.order_id, "nope", a.order_id], T)
    assert results == [(a.order_id, True, reasons.UNKNOWN_CANCEL_FAILURE_REASON),
                       ("nope", False, reasons.UNKNOWN_CANCEL_ORDER),
                       (a.order_id, False, "DUPLICATE_CANCEL_REQUEST")]  # cancelled already
    assert rig.client.order(a.order_id).status == CANCELLED
    assert [o.order_id for o in rig.market.engine(PERP).resting_orders(CLIENT)] == [b.order_id]
    assert [o.order_id for o in rig.client.open_orders()] == [b.order_id]


def test_cancelling_a_filled_order_says_it_is_fully_filled(rig):
    rig.maker(PERP, SELL, "90000", "3")
    filled = rig.order("f1", PERP, BUY, "market_market_ioc", base_size="1")
    assert filled.status == FILLED
    assert rig.client.cancel([filled.order_id], T) == [(filled.order_id, False, "ORDER_IS_FULLY_FILLED")]


def test_every_create_reason_reads_as_a_coinbase_preview_reason():
    for code in CREATE_REASONS:
        assert preview_reason(code) in PREVIEW_REASONS, code
    assert preview_reason("INSUFFICIENT_FUND") == "PREVIEW_INSUFFICIENT_FUND"
    assert preview_reason("UNSUPPORTED_ORDER_CONFIGURATION") == "PREVIEW_INVALID_ORDER_CONFIG"
    assert preview_reason("NOT_A_REASON") == "UNKNOWN_PREVIEW_FAILURE_REASON"


def test_edit_keeps_the_queue_place_when_shrinking_and_loses_it_when_repriced(rig):
    mine = rig.order("e1", PERP, BUY, "limit_limit_gtc", base_size="5", limit_price="90000")
    other = rig.maker(PERP, BUY, "90000", "3")
    engine = rig.market.engine(PERP)
    assert rig.client.edit(mine.order_id, D("90000"), D("4"), T) == ""
    assert [(o.order_id, o.remaining) for o in engine.queue(BID, D("90000"))] == [(mine.order_id, D(4)), (other, D(3))]
    assert rig.client.edit(mine.order_id, D("90000"), D("6"), T) == ""  # bigger: to the back
    assert [o.order_id for o in engine.queue(BID, D("90000"))] == [other, mine.order_id]
    assert rig.client.edit(mine.order_id, D("89995"), D("6"), T) == ""
    edited = rig.client.order(mine.order_id)
    assert (edited.limit_price, edited.base_size, len(edited.edit_history)) == (D("89995"), D(6), 3)
    assert edited.configuration["limit_price"] == "89995" and edited.configuration["base_size"] == "6"
    rig.taker(PERP, SELL, "5")  # 3 of the other maker at 90000, then 2 of ours
    assert rig.client.order(mine.order_id).filled_size == D(2)
    assert rig.client.edit(mine.order_id, D("89995"), D("2"), T) == "CANNOT_EDIT_TO_BELOW_FILLED_SIZE"
    assert rig.client.edit(mine.order_id, D("89996"), D("6"), T) == "INVALID_EDITED_PRICE"
    assert rig.client.edit("nope", D("89995"), D("6"), T) == "ORDER_NOT_FOUND"


def test_a_gtd_order_expires_at_its_end_time(rig):
    order = rig.order("g1", PERP, BUY, "limit_limit_gtd", base_size="1", limit_price="80000",
                      end_time="2027-01-15T08:01:00Z", end_ts=str(T + 60))
    rig.client.on_time(T + 59.9)
    assert rig.client.order(order.order_id).status == OPEN
    rig.client.on_time(T + 60)
    assert rig.client.order(order.order_id).status == EXPIRED
    assert rig.market.engine(PERP).resting_orders(CLIENT) == []


def test_a_stop_limit_waits_off_the_book_until_a_trade_reaches_its_stop(rig):
    rig.maker(PERP, BUY, "89000", "10")
    rig.maker(PERP, SELL, "90000", "10")
    rig.order("long", PERP, BUY, "market_market_ioc", base_size="2")  # a position to protect
    stop = rig.order("s1", PERP, SELL, "stop_limit_stop_limit_gtc", base_size="2", limit_price="88500",
                     stop_price="89500", stop_direction="STOP_DIRECTION_STOP_DOWN")
    assert (stop.status, stop.trigger_status) == (OPEN, STOP_PENDING)
    assert [o.order_id for o in rig.market.engine(PERP).resting_orders(CLIENT)] == []
    rig.maker(PERP, BUY, "89600", "1")
    rig.taker(PERP, SELL, "1")  # prints 89600: above the stop
    assert rig.client.order(stop.order_id).trigger_status == STOP_PENDING
    rig.taker(PERP, SELL, "1")  # prints 89000: the stop is reached, the sell limit takes 2 at 89000
    fired = rig.client.order(stop.order_id)
    assert (fired.status, fired.trigger_status, fired.filled_size, fired.average_filled_price) == (
        FILLED, STOP_TRIGGERED, D(2), D(89000))
    assert rig.client.perp_positions(T) == []


# --------------------------------------------------------------------- positions and the account


def test_perp_position_weighted_entry_partial_close_and_flip_with_fees(rig):
    for side, price, size in ((SELL, "90000", "2"), (SELL, "90100", "2")):
        rig.maker(PERP, side, price, size)
        rig.order(f"b{price}", PERP, BUY, "market_market_ioc", base_size=size)
    position = rig.client.perp_positions(T)[0]
    assert (position.net_size, position.entry_price) == (D(4), D(90050))  # (2 x 90000 + 2 x 90100) / 4
    rig.maker(PERP, BUY, "90200", "3")
    rig.order("s1", PERP, SELL, "market_market_ioc", base_size="3")
    position = rig.client.perp_positions(T)[0]
    # 3 closed at 90200 over an entry of 90050: 150 x 3 x 0.01 = 4.50
    assert (position.net_size, position.entry_price, position.realized_pnl) == (D(1), D(90050), D("4.5"))
    rig.maker(PERP, BUY, "90300", "3")
    rig.order("s2", PERP, SELL, "market_market_ioc", base_size="3")
    position = rig.client.perp_positions(T)[0]
    # 1 closed at 90300: +2.50; the 2 beyond flip the position short at the fill price
    assert (position.net_size, position.entry_price, position.realized_pnl) == (D(-2), D(90300), D("7"))
    # taker fees: 0.0006 x (1800 + 1802 + 2706 + 2709) = 5.4102
    assert sum(f.commission for f in rig.client.fills()) == D("5.4102")
    summary = rig.client.summary(T)
    assert summary.cfm_usd_balance == D("100000") + D("7") - D("5.4102")
    assert summary.daily_realized_pnl == D("7")

    rig.maker(PERP, BUY, "90000", "1")
    rig.maker(PERP, SELL, "90010", "1")
    summary = rig.client.summary(T)  # marked at the mid, 90005
    assert summary.unrealized_pnl == D("5.9")  # -2 x 0.01 x (90005 - 90300)
    assert summary.initial_margin == D("180.010")  # 2 x 0.01 x 90005 x 10%
    assert summary.maintenance_margin == D("90.005")  # 5%
    assert summary.available_margin == summary.cfm_usd_balance + D("5.9") - D("180.010")
    assert summary.liquidation_buffer_amount == summary.cfm_usd_balance + D("5.9") - D("90.005")
    position = rig.client.perp_positions(T)[0]
    assert (position.mark_price, position.notional) == (D("90005"), D("1800.10"))
    # equity at the liquidation price P equals maintenance: cash - 0.02 (P - 90300) = 0.001 P
    cash = summary.cfm_usd_balance
    assert position.liquidation_price == (cash + D("0.02") * 90300) / D("0.021")


def test_close_position_sends_a_market_order_for_the_whole_position(rig):
    rig.maker(PERP, SELL, "90000", "3")
    rig.order("o1", PERP, BUY, "market_market_ioc", base_size="3")
    rig.maker(PERP, BUY, "89990", "5")
    closing = rig.client.close_position("close-1", PERP, None, T)
    assert isinstance(closing, OrderView)
    assert (closing.side, closing.filled_size, closing.status, closing.kind) == (SELL, D(3), FILLED, "market_market_ioc")
    assert rig.client.perp_positions(T) == []
    assert rig.client.close_position("close-1", PERP, None, T).order_id == closing.order_id  # idempotent
    assert rig.client.close_position("close-2", PERP, None, T).code == "INVALID_REQUEST"


def test_hourly_funding_is_paid_by_longs_on_a_positive_rate(rig):
    rig.maker(PERP, SELL, "90000", "2")
    rig.order("o1", PERP, BUY, "market_market_ioc", base_size="2")
    rig.maker(PERP, BUY, "89990", "1")
    rig.maker(PERP, SELL, "90010", "1")
    before = rig.client.summary(T).cfm_usd_balance
    rig.client.drain_account_changed()
    rig.client.on_time(T + 3599)
    assert rig.client.summary(T).cfm_usd_balance == before and not rig.client.drain_account_changed()
    rig.client.on_time(T + 3600)
    # 2 x 0.01 x 90000 (mid) x 0.0001 = 0.18
    assert rig.client.summary(T).cfm_usd_balance == before - D("0.18")
    assert rig.client.perp_positions(T)[0].funding == D("0.18") and rig.client.drain_account_changed()
    rig.client.on_time(T + 3700)
    assert rig.client.summary(T).cfm_usd_balance == before - D("0.18")  # once per hour


def test_changes_drain_in_order_once_each(rig):
    a = rig.order("a", PERP, BUY, "limit_limit_gtc", base_size="1", limit_price="80000")
    b = rig.order("b", PERP, BUY, "limit_limit_gtc", base_size="1", limit_price="80005")
    rig.client.cancel([a.order_id], T)
    assert [(o.order_id, o.status) for o in rig.client.drain_changes()] == [(a.order_id, CANCELLED), (b.order_id, OPEN)]
    assert rig.client.drain_changes() == []


def test_preview_prices_an_order_without_placing_it(rig):
    rig.maker(PERP, SELL, "90000", "1")
    rig.maker(PERP, SELL, "90010", "1")
    preview = rig.client.preview(request("", PERP, BUY, "market_market_ioc", base_size="2"), T)
    # 900 + 900.10 = 1800.10 notional, fee 1.08006, margin 180.010
    assert (preview.errors, preview.base_size, preview.quote_size) == ((), D(2), D("1800.10"))
    assert (preview.commission, preview.margin, preview.average_price) == (D("1.080060"), D("180.010"), D("90005"))
    assert rig.client.orders() == [] and rig.market.book(PERP)[1] == [(D(90000), D(1)), (D(90010), D(1))]
    bad = rig.client.preview(request("", SPOT, BUY, "limit_limit_gtc", base_size="100", limit_price="100.00"), T)
    assert bad.errors == ("PREVIEW_INSUFFICIENT_FUND",)


def test_order_and_fill_ids_are_unique_and_repeatable_for_a_seed():
    def run() -> tuple[list[str], list[str]]:
        rig = Rig()
        rig.maker(PERP, SELL, "90000", "4")
        for n in range(4):
            rig.order(f"c{n}", PERP, BUY, "market_market_ioc", base_size="1")
        return [o.order_id for o in rig.client.orders()], [f.trade_id for f in rig.client.fills()]

    orders, trades = run()
    assert len(set(orders)) == 4 and len(set(trades)) == 4 and not set(orders) & set(trades)
    assert run() == (orders, trades)
