"""A kill -9 harness for `bin/perpsbot run` against the built-in exchange ("Nothing lost").

The built-in exchange runs as its own process (`perpsbot exchange --port 0 --new-key FILE`, so it
binds a free 127.0.0.1 port and accepts only that key); `perpsbot run` runs against it as a
subprocess, always on the same data dir, is killed with SIGKILL at seeded random instants
(`KillPlan`), and started again. Between kills and at the end the invariants are checked against
the exchange's own REST view (read with the same key):

  (a) positions: the bot's (journal `positions` table while it runs, the report at the end) equal
      the exchange's: `cfm/positions` for a perpetual, the base currency's account balance for a
      spot product, and for every product the signed sum of the exchange's fills;
  (b) fills: for every exchange order, the journal's fills add up to exactly what the exchange
      filled (counted once: not missing, not twice), and every journal fill names an exchange order
      and an exchange trade (a real trade id, or one derived from it / from the order's id and
      cumulative size as the `user` channel's fills are named);
  (c) orders: at most one exchange order per client_order_id, at most one per journaled intent,
      and none the journal does not know (an intent is journaled before its order is sent);
  (d) every restart back to ACTIVE once synced; the last one ACTIVE when its clean stop begins,
      with at least one fill of an order it sent itself.

Everything waits on conditions with deadlines (`wait_for`: a bounded poll with a short pause, never
a bare sleep as a wait), every subprocess is registered in `Processes` and killed at teardown, and
every failure message starts with the seed (`[kill seed N]`). Uses no threads (the suite's
leaked-thread check stays quiet): process output goes to files that are tailed.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from actors.app.exchange_view import read_listing
from actors.venue import coinbase_rest as rest
from actors.venue.coinbase_auth import Credentials
from actors.venue.coinbase_orders import Accepted, create_order_outcome
from actors.venue.coinbase_rest import PREFIX, Request, RestTransport
from actors.venue.listing import Listing, RestFill, RestOrder
from actors.wire.rate_limit import PUBLIC
from config.loader import load_profile
from domain.orders import PlaceOrder
from runtime.data_dir import holder

ROOT = Path(__file__).resolve().parents[2]
PERPSBOT = [sys.executable, str(ROOT / "bin" / "perpsbot")]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("COINBASE_")}

PERP = "BIP-20DEC30-CDE"
SPOT = "BTC-USD"
SPOT_BASE = {SPOT: "BTC"}
PERPS = frozenset({PERP})
PRODUCTS = (SPOT, PERP)  # the dev profile's (the paper defaults)
PERP_TICK = Decimal(5)  # BIP-20DEC30-CDE's price_increment

THROTTLE_WAIT_S = 10.0  # how long one request of the harness may meet 429s
STATE_POLL_S = 0.5  # between two reads of the exchange's state while the bot runs (its budget too)
ACTIVE_WITHIN_S = 10.0  # a restart that synced must be trading (ACTIVE) again within this
TERMINAL = frozenset({"FILLED", "CANCELLED", "REJECTED", "EXPIRED", "FAILED"})
ADOPTED = "adopted"  # the intent_id recovery journals for a live order of ours it did not know
ZERO = Decimal(0)

_SENT = re.compile(r"order sent \S+ \S+ \S+ \S+.*? cid=(\S+) intent=(\S+)")
_ENDED = re.compile(r"order (?:filled|cancelled|rejected) .*?cid=(\S+)")
_FILLED = re.compile(r"order filled .*?cid=(\S+)")
_STATE = re.compile(r"trading state (\S+) -> (\S+): (.*)")
SYNC_LINE = "sync execution: the venue lists"


class HarnessError(AssertionError):
    """A wait ran out or a process misbehaved; the message starts with the seed."""


class WaitTimeout(HarnessError):
    """A condition not met by its deadline."""


def wait_for(condition: Callable[[], Any], timeout: float, what: str, seed: int | None = None,
             interval: float = 0.02) -> Any:
    """Poll `condition` until it is truthy and return it; WaitTimeout at the deadline."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"[kill seed {seed}] not within {timeout:g}s: {what}")
        pause.wait(interval)


def signed(side: str, size: Decimal) -> Decimal:
    return size if side.upper() == "BUY" else -size


def dec(text: Any) -> Decimal:
    try:
        return Decimal(str(text))
    except ArithmeticError:
        return ZERO


# ----------------------------------------------------------------------------- processes

class Processes:
    """Every subprocess the harness starts; `cleanup` kills whichever is still alive."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self._files: list[Any] = []

    def spawn(self, args: list[str], stdout: Path, stderr: Path) -> subprocess.Popen:
        out, err = open(stdout, "w"), open(stderr, "w")  # noqa: SIM115 - closed in cleanup
        self._files += [out, err]
        proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True, env=ENV,
                                cwd=str(ROOT))
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def cleanup(self) -> list[int]:
        """SIGKILL every live process and reap it; the pids that had to be killed."""
        killed = []
        for proc in self.alive():
            killed.append(proc.pid)
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        for f in self._files:
            f.close()
        self._files.clear()
        return killed


class LogTail:
    """A growing log file read incrementally: whole lines only, a few facts kept as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._rest = b""
        self.lines: list[str] = []
        self.sent: dict[str, str] = {}  # cid -> intent, in order sent
        self.ended: set[str] = set()
        self.filled: set[str] = set()
        self.states: list[tuple[str, str, str]] = []  # (old, new, reason)
        self.synced = False

    def refresh(self) -> LogTail:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return self
        self._offset += len(chunk)
        data = self._rest + chunk
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        for line in data[:cut].decode("utf-8", "replace").splitlines():
            self._take(line)
        return self

    def _take(self, line: str) -> None:
        self.lines.append(line)
        if "order sent" in line and (m := _SENT.search(line)):
            self.sent.setdefault(m.group(1), m.group(2))
        elif "order " in line and (m := _ENDED.search(line)):
            self.ended.add(m.group(1))
            if _FILLED.search(line):
                self.filled.add(m.group(1))
        elif "trading state" in line and (m := _STATE.search(line)):
            self.states.append((m.group(1), m.group(2), m.group(3)))
        elif SYNC_LINE in line:
            self.synced = True

    def in_flight(self) -> list[str]:
        """Orders this process sent and had not seen end (filled, cancelled, rejected)."""
        return [cid for cid in self.sent if cid not in self.ended]

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.lines[-n:])


# ----------------------------------------------------------------------------- the exchange

@dataclass
class VenueState:
    """The exchange's view at one moment."""

    positions: dict[str, Decimal]  # cfm/positions, signed contracts
    orders: dict[str, RestOrder]  # by venue order id, every status
    fills: dict[str, RestFill]  # by trade id
    balances: dict[str, Decimal]  # spot accounts: currency -> available + hold

    def net_filled(self) -> dict[str, Decimal]:
        net: dict[str, Decimal] = defaultdict(Decimal)
        for f in self.fills.values():
            net[f.product_id] += signed(f.side, dec(f.size))
        return dict(net)

    def filled_by_order(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = defaultdict(Decimal)
        for f in self.fills.values():
            out[f.order_id] += dec(f.size)
        return dict(out)


class ExchangeProcess:
    """`perpsbot exchange --port 0 --new-key FILE` as its own process, and a REST client with its key."""

    def __init__(self, workdir: Path, procs: Processes, seed: int, duration_s: float) -> None:
        self.workdir = workdir
        self.key_file = workdir / "key.json"
        self.out_path, self.log_path = workdir / "exchange.out", workdir / "exchange.log"
        self.proc = procs.spawn([*PERPSBOT, "exchange", "--port", "0", "--seed", str(seed), "--duration",
                                 f"{duration_s:g}", "--new-key", str(self.key_file),
                                 # spot USD but no BTC of its own: its BTC balance is then the bot's spot position
                                 "--spot-balance", "USD=20000", "--spot-balance", "BTC=0"],
                                self.out_path, self.log_path)
        self.seed = seed
        line = wait_for(self._urls_line, 30, "the exchange printing its URLs", seed)
        self.args = line.split()
        self.rest_url = self.args[self.args.index("--rest-url") + 1]
        self.credentials = Credentials.from_key_file(self.key_file)
        self._lock = threading.Lock()
        self._transport = RestTransport(self.rest_url, self.credentials, timeout_s=5)
        self.throttled = 0  # 429s the harness itself met
        wait_for(self._answers, 15, "the exchange answering GET /time", seed, interval=0.05)

    def _urls_line(self) -> str | None:
        if self.proc.poll() is not None:
            raise HarnessError(f"[kill seed {self.seed}] the exchange exited {self.proc.returncode}: "
                               f"{self.log_path.read_text()[-2000:]}")
        try:
            text = self.out_path.read_text()
        except FileNotFoundError:
            return None
        return next((ln for ln in text.splitlines() if "--rest-url" in ln), None)

    def _answers(self) -> bool:
        return self.send(Request("GET", PREFIX + "/time", budget=PUBLIC)).status == 200

    def send(self, request: Request) -> rest.Response:
        """One request; a 429 (the exchange's budget is per client address, shared with the bot)
        is asked again after its Retry-After, for at most THROTTLE_WAIT_S."""
        deadline = time.monotonic() + THROTTLE_WAIT_S
        pause = threading.Event()
        while True:
            with self._lock:
                response = self._transport.send(request)
            if response.status != 429 or time.monotonic() >= deadline:
                return response
            self.throttled += 1
            retry = dict(response.headers).get("retry-after", "")
            pause.wait(min(1.0, max(0.05, float(retry) if retry.replace(".", "", 1).isdigit() else 0.2)))

    def _json(self, request: Request) -> Any:
        response = self.send(request)
        if response.status != 200:
            raise HarnessError(f"[kill seed {self.seed}] {request.method} {request.path}: "
                               f"{response.status or response.error} {response.body[:300]!r}")
        return msgspec.json.decode(response.body)

    def positions(self) -> dict[str, Decimal]:
        out = {}
        for p in self._json(rest.cfm_positions()).get("positions", []):
            n = dec(p.get("number_of_contracts", "0"))
            out[p["product_id"]] = -n if p.get("side") == "SHORT" else n
        return out

    def balances(self) -> dict[str, Decimal]:
        out = {}
        for a in self._json(rest.accounts()).get("accounts", []):
            out[a["currency"]] = dec(a["available_balance"]["value"]) + dec(a["hold"]["value"])
        return out

    def listing(self) -> tuple[dict[str, RestOrder], dict[str, RestFill]]:
        """Every order (no status filter) and every fill, all pages."""
        listing = Listing(orders=True, fills=True)
        failure = read_listing(listing, self)
        if failure is not None:
            raise HarnessError(f"[kill seed {self.seed}] the exchange's lists: {failure}")
        return {o.order_id: o for o in listing.orders}, {f.trade_id: f for f in listing.fills}

    def state(self) -> VenueState:
        """Orders, fills, positions and balances (4 requests or a few more: keep polls of it slow,
        the bot spends the same budget)."""
        orders, fills = self.listing()
        return VenueState(self.positions(), orders, fills, self.balances())

    def order_status(self, order_id: str) -> str:
        return str(self._json(rest.get_order(order_id))["order"]["status"])

    def book(self, product_id: str) -> tuple[Decimal, Decimal]:
        body = self._json(Request("GET", PREFIX + "/market/product_book",
                                  (("product_id", product_id), ("limit", "1")), budget=PUBLIC))
        book = body["pricebook"]
        return dec(book["bids"][0]["price"]), dec(book["asks"][0]["price"])

    def place_limit(self, client_order_id: str, product_id: str, side: str, size: Decimal,
                    price: Decimal) -> str:
        """A GTC limit order on the account (the bot's account: one key, one account); its venue id."""
        order = PlaceOrder(client_order_id, product_id, side, "limit", size, price, time_in_force="GTC")
        response = self.send(rest.create_order(order))
        outcome = create_order_outcome(client_order_id, response.status, response.body, response.headers)
        if type(outcome) is not Accepted:
            raise HarnessError(f"[kill seed {self.seed}] limit order {client_order_id} not taken: {outcome}")
        return outcome.order_id

    def edit(self, order_id: str, price: Decimal, size: Decimal) -> None:
        body = self._json(rest.edit_order(order_id, price, size))
        if not body.get("success"):
            raise HarnessError(f"[kill seed {self.seed}] edit of {order_id} refused: {body}")

    def stop(self) -> None:
        with self._lock:
            self._transport.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ----------------------------------------------------------------------------- the journal

@dataclass
class JournalView:
    """The journal's rows at one moment, read through a read-only connection."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # cid -> row
    fills: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, Decimal] = field(default_factory=dict)
    decisions: list[tuple[int, float, str, str]] = field(default_factory=list)

    def filled_by_order(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = defaultdict(Decimal)
        for f in self.fills:
            out[f["venue_order_id"]] += dec(f["size"])
        return dict(out)

    def live_orders(self) -> list[str]:
        return [cid for cid, o in self.orders.items() if o["status"] not in TERMINAL]


def read_journal(db: Path, seed: int | None = None) -> JournalView:
    """The journal as it is now; empty before the first run created it."""
    if not db.exists():
        return JournalView()
    for attempt in range(50):
        try:
            conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
            try:
                return _read(conn)
            finally:
                conn.close()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return JournalView()
            if attempt == 49:
                raise HarnessError(f"[kill seed {seed}] the journal {db} cannot be read: {exc}") from None
            threading.Event().wait(0.05)
    raise AssertionError("unreachable")


def _read(conn: sqlite3.Connection) -> JournalView:
    view = JournalView()
    for cid, intent, pid, side, size, status, created in conn.execute(
            "SELECT client_order_id, intent_id, product_id, side, size, status, created_at FROM orders"):
        view.orders[cid] = {"intent_id": intent, "product_id": pid, "side": side, "size": size, "status": status,
                            "created_at": created}
    for tid, cid, oid, pid, side, size in conn.execute(
            "SELECT trade_id, client_order_id, venue_order_id, product_id, side, size FROM fills ORDER BY rowid"):
        view.fills.append({"trade_id": tid, "client_order_id": cid, "venue_order_id": oid, "product_id": pid,
                           "side": side, "size": size})
    view.positions = {pid: dec(size) for pid, size in conn.execute("SELECT product_id, size FROM positions")}
    view.decisions = [tuple(r) for r in conn.execute("SELECT id, ts, kind, detail FROM decisions ORDER BY id")]
    return view


# ----------------------------------------------------------------------------- the invariants

def position_violations(bot: dict[str, Decimal], venue: VenueState, where: str,
                        products: Iterable[str] = PRODUCTS) -> list[str]:
    """(a) the bot's signed position per product against the exchange's."""
    out = []
    net = venue.net_filled()
    for pid in sorted(set(products) | set(net) | set(venue.positions)):
        mine = bot.get(pid, ZERO)
        theirs = net.get(pid, ZERO)
        if mine != theirs:
            out.append(f"(a) {where}: {pid} bot {mine}, exchange net fills {theirs}")
        if pid in PERPS and mine != venue.positions.get(pid, ZERO):
            out.append(f"(a) {where}: {pid} bot {mine}, exchange cfm/positions {venue.positions.get(pid, ZERO)}")
        if pid in SPOT_BASE and mine != venue.balances.get(SPOT_BASE[pid], ZERO):
            out.append(f"(a) {where}: {pid} bot {mine}, exchange {SPOT_BASE[pid]} balance "
                       f"{venue.balances.get(SPOT_BASE[pid], ZERO)}")
    return out


def fill_violations(journal: JournalView, venue: VenueState, where: str) -> list[str]:
    """(b) every exchange order's fills counted exactly once in the journal, nothing extra."""
    out = []
    exchange_by_order = venue.filled_by_order()
    journal_by_order = journal.filled_by_order()
    rows: dict[str, list[str]] = defaultdict(list)
    for f in journal.fills:
        rows[f["venue_order_id"]].append(f"{f['trade_id']}={f['size']}")
    for oid in sorted(set(exchange_by_order) | set(journal_by_order)):
        theirs, mine = exchange_by_order.get(oid, ZERO), journal_by_order.get(oid, ZERO)
        if oid not in venue.orders and oid not in exchange_by_order:
            out.append(f"(b) {where}: journal fills for order {oid} the exchange does not have: {rows[oid]}")
        elif mine > theirs:
            cid = venue.orders[oid].client_order_id if oid in venue.orders else "?"
            out.append(f"(b) {where}: order {oid} (cid {cid}) counted more than once: exchange filled {theirs}, "
                       f"journal {mine} in {len(rows[oid])} rows {rows[oid]}")
        elif mine < theirs:
            cid = venue.orders[oid].client_order_id if oid in venue.orders else "?"
            out.append(f"(b) {where}: order {oid} (cid {cid}) fills missing: exchange filled {theirs}, journal {mine}")
    trade_ids = set(venue.fills)
    for f in journal.fills:
        tid, oid = f["trade_id"], f["venue_order_id"]
        base = tid.rpartition(":")[0]
        if tid in trade_ids or base in trade_ids or (base == oid and oid in venue.orders):
            continue
        out.append(f"(b) {where}: journal fill {tid} (order {oid}) names no exchange trade")
    return out


def order_violations(journal: JournalView, venue: VenueState, where: str,
                     foreign: frozenset[str] = frozenset()) -> list[str]:
    """(c) one exchange order per client id and per intent; every exchange order journaled first."""
    out = []
    by_cid: dict[str, list[str]] = defaultdict(list)
    for o in venue.orders.values():
        by_cid[o.client_order_id].append(o.order_id)
    by_intent: dict[str, list[str]] = defaultdict(list)
    for cid, ids in sorted(by_cid.items()):
        if len(ids) > 1:
            out.append(f"(c) {where}: client_order_id {cid} is {len(ids)} exchange orders: {ids}")
        if cid in foreign:
            continue
        row = journal.orders.get(cid)
        if row is None:
            statuses = [venue.orders[i].status for i in ids]
            out.append(f"(c) {where}: exchange order {cid} ({', '.join(ids)}, {statuses}) is not in the journal's"
                       " orders table")
        else:
            by_intent[row["intent_id"]].append(cid)
    for intent, cids in sorted(by_intent.items()):
        if len(cids) > 1 and intent != ADOPTED:
            out.append(f"(c) {where}: intent {intent} became {len(cids)} exchange orders: {cids}")
    return out


def journal_violations(journal: JournalView, venue: VenueState, where: str,
                       foreign: frozenset[str] = frozenset()) -> list[str]:
    """(a) on the journal's positions table, (b) and (c)."""
    return (position_violations(journal.positions, venue, f"{where}, journal positions")
            + fill_violations(journal, venue, where) + order_violations(journal, venue, where, foreign))


def uncovered_trades(journal: JournalView, venue: VenueState) -> list[str]:
    """Exchange trades beyond what the journal counted for their order (earliest first counted):
    the fills a restart has to infer from the venue."""
    covered = journal.filled_by_order()
    out = []
    by_order: dict[str, list[RestFill]] = defaultdict(list)
    for f in venue.fills.values():
        by_order[f.order_id].append(f)
    for oid, trades in by_order.items():
        total = ZERO
        for f in sorted(trades, key=lambda t: (t.sequence_timestamp, t.trade_time, t.trade_id)):
            total += dec(f.size)
            if total > covered.get(oid, ZERO):
                out.append(f.trade_id)
    return out


def report_positions(report: dict[str, Any]) -> dict[str, Decimal]:
    return {pid: dec(p["size"]) for pid, p in (report.get("positions") or {}).items()}


def assert_recovery_section(report: dict[str, Any], *, venue_fills_inferred: int, journal_fills: int,
                            foreign_orders: int | None = None, intents_settled: int | None = None) -> None:
    """The `recovery` section the issue asks of a run's report after a start from a journal:
    {started_from, journal_fills, venue_fills_inferred, intents_settled, foreign_orders,
    position_mismatches, seconds, clean}. After a kill -9: it started from the journal, counted
    the journal's fills as they were at the kill, inferred exactly the exchange trades the journal
    lacked (those made while the bot was dead) once, counted the foreign orders still live, and
    ended clean (no position disagrees once the inferred fills are counted)."""
    assert "recovery" in report, f"the report has no recovery section (keys: {sorted(report)})"
    recovery = report["recovery"]
    keys = {"started_from", "journal_fills", "venue_fills_inferred", "intents_settled", "foreign_orders",
            "position_mismatches", "seconds", "clean"}
    assert keys <= set(recovery), f"recovery lacks {sorted(keys - set(recovery))}: {recovery}"
    assert recovery["started_from"] == "journal", recovery
    assert recovery["journal_fills"] == journal_fills, recovery
    assert recovery["venue_fills_inferred"] == venue_fills_inferred, recovery
    assert isinstance(recovery["intents_settled"], int) and recovery["intents_settled"] >= 0, recovery
    if intents_settled is not None:
        assert recovery["intents_settled"] == intents_settled, recovery
    assert isinstance(recovery["foreign_orders"], int) and recovery["foreign_orders"] >= 0, recovery
    if foreign_orders is not None:
        assert recovery["foreign_orders"] == foreign_orders, recovery
    assert recovery["position_mismatches"] in (0, [], {}), f"positions disagreed after recovery: {recovery}"
    assert isinstance(recovery["seconds"], (int, float)) and recovery["seconds"] >= 0, recovery
    assert recovery["clean"] is True, f"recovery did not end clean: {recovery}"


# ----------------------------------------------------------------------------- one bot process

class BotRun:
    """One `perpsbot run` process on the harness's data dir."""

    def __init__(self, harness: KillHarness, index: int, duration_s: float, report: Path | None) -> None:
        self.index = index
        self.log_path = harness.workdir / f"run-{index:02d}.log"
        self.out_path = harness.workdir / f"run-{index:02d}.out"
        self.report_path = report
        args = [*PERPSBOT, "run", "--profile", harness.profile, "--data-dir", str(harness.data_dir), "--key-file",
                str(harness.exchange.key_file), *harness.exchange.args, "--duration", f"{duration_s:g}"]
        if report is not None:
            args += ["--report-json", str(report)]
        self.started_wall, self.started = time.time(), time.monotonic()
        self.proc = harness.procs.spawn(args, self.out_path, self.log_path)
        self.log = LogTail(self.log_path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> int:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=15)
        self.log.refresh()
        return self.proc.returncode

    def stop(self, timeout: float = 90) -> int:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        self.log.refresh()
        return self.proc.returncode

    def state_before_stop(self) -> str | None:
        """The trading state this process was in when its clean stop began: the OLD side of its
        `trading state OLD -> HALTED: shutdown...` line (None without one)."""
        for old, new, reason in self.log.states:
            if new == "HALTED" and reason.startswith("shutdown"):
                return old
        return None


# ----------------------------------------------------------------------------- kills

STARTUP, ON_SEND, RANDOM, QUIET = "startup", "on_send", "random", "quiet"


@dataclass
class KillRecord:
    index: int
    mode: str
    returncode: int
    after_s: float  # since the process was started
    sent: int  # orders this process sent
    in_flight_log: list[str]  # sent, not seen ended by the process
    journal_orders: int
    journal_fills: int  # fill rows
    journal_live: list[str]  # journal orders not in a final state
    unjournaled_trades: list[str]  # exchange trades the journal had not counted
    unjournaled_orders: list[str]  # exchange client ids the journal had not recorded
    lock_free: bool
    synced: bool  # the process had logged its venue sync

    @property
    def in_flight(self) -> bool:
        return bool(self.in_flight_log or self.journal_live or self.unjournaled_trades or self.unjournaled_orders)

    @property
    def orders_present(self) -> bool:
        """The journal held orders, or this process had sent one (the first may not be journaled yet)."""
        return self.journal_orders > 0 or bool(self.in_flight_log)

    def line(self) -> str:
        return (f"kill {self.index} {self.mode} rc={self.returncode} at {self.after_s:.2f}s synced={self.synced} "
                f"sent={self.sent} in_flight(log)={self.in_flight_log} journal_live={self.journal_live} "
                f"unjournaled_trades={len(self.unjournaled_trades)} unjournaled_orders={self.unjournaled_orders} "
                f"journal_orders={self.journal_orders} lock_free={self.lock_free}")


@dataclass
class DeadFills:
    """What `resting_orders_fill_while_dead` saw."""

    report: dict[str, Any]
    kill: KillRecord
    resting_at_kill: dict[str, str]  # "buy" / "sell" / "stay" -> exchange status when the bot was killed
    dead_trades: list[str]  # exchange trade ids of the fills made while the bot was dead
    to_infer: list[str]  # exchange trades the journal lacked at the restart (dead_trades and any in flight)
    journal_fills: int  # journal fill rows at the kill
    journal_live: list[str]  # journal orders not final at the kill


class KillPlan:
    """Seeded kill instants. `modes` cycles through the kinds given (shuffled by the seed)."""

    def __init__(self, rng: random.Random, kills: int, modes: tuple[str, ...] = (ON_SEND, RANDOM, STARTUP)) -> None:
        order = list(modes)
        rng.shuffle(order)
        self.modes = [order[i % len(order)] for i in range(kills)]
        rng.shuffle(self.modes)
        # The first process is killed once orders flow: a start-up instant is for restarts.
        later = next((i for i, m in enumerate(self.modes) if m != STARTUP), None)
        if self.modes and self.modes[0] == STARTUP and later is not None:
            self.modes[0], self.modes[later] = self.modes[later], self.modes[0]


# ----------------------------------------------------------------------------- the harness

class KillHarness:
    """An exchange process, a data dir and the `run` processes started on it one after another."""

    def __init__(self, workdir: Path, seed: int, exchange_duration_s: float = 600, profile: str = "dev") -> None:
        self.workdir = workdir
        self.seed = seed
        self.rng = random.Random(seed)
        self.profile = profile
        self.data_dir = workdir / "data"
        self.db = self.data_dir / load_profile(profile).journal.file
        self.procs = Processes()
        self.runs: list[BotRun] = []
        self.kills: list[KillRecord] = []
        self.violations: list[str] = []
        self.notes: list[str] = []
        self.foreign: frozenset[str] = frozenset()  # client ids the test itself placed on the account
        self.exchange = ExchangeProcess(workdir, self.procs, self.rng.randrange(1, 10_000), exchange_duration_s)

    # -- plumbing ---------------------------------------------------------------------------
    def wait(self, condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
        """wait_for; at the deadline the error carries the last process's log tail (a failed
        drill's tmp folder may be gone by the time anyone looks)."""
        try:
            return wait_for(condition, timeout, what, self.seed, interval)
        except WaitTimeout as exc:
            raise WaitTimeout(str(self.fail(str(exc).removeprefix(f"[kill seed {self.seed}] ")))) from None

    def fail(self, message: str) -> HarnessError:
        run = self.runs[-1] if self.runs else None
        tail = ""
        if run is not None:
            state = "alive" if run.alive() else f"exited {run.proc.returncode}"
            tail = f"\n--- run {run.index} ({state}), its last log lines ---\n{run.log.refresh().tail(40)}"
        return HarnessError(f"[kill seed {self.seed}] {message}\n{self.summary()}{tail}")

    def journal(self) -> JournalView:
        return read_journal(self.db, self.seed)

    def close(self) -> list[int]:
        """Kill what is still alive (a failed test), stop the exchange; the pids killed."""
        leaked = [p for p in self.procs.alive() if p is not self.exchange.proc]
        killed = [p.pid for p in leaked]
        for p in leaked:
            p.kill()
        try:
            self.exchange.stop()
        finally:
            self.procs.cleanup()
        return killed

    # -- one process ------------------------------------------------------------------------
    def start(self, duration_s: float = 60, report: Path | None = None) -> BotRun:
        run = BotRun(self, len(self.runs), duration_s, report)
        self.runs.append(run)
        return run

    def _alive_or_fail(self, run: BotRun) -> None:
        if not run.alive():
            raise self.fail(f"run {run.index} exited {run.proc.returncode} on its own:\n"
                            f"{run.log_path.read_text()[-3000:]}")

    def wait_synced(self, run: BotRun, timeout: float = 30) -> None:
        def synced() -> bool:
            self._alive_or_fail(run)
            return run.log.refresh().synced
        self.wait(synced, timeout, f"run {run.index} logging its venue sync")

    def wait_sent(self, run: BotRun, n: int, timeout: float = 30, interval: float = 0.02) -> None:
        def sent() -> bool:
            self._alive_or_fail(run)
            return len(run.log.refresh().sent) >= n
        self.wait(sent, timeout, f"run {run.index} sending {n} order(s)", interval)

    def wait_new_fill(self, run: BotRun, timeout: float = 40) -> str:
        """An order this process sent, filled, and its fills in the journal: the cid."""
        def filled() -> str | None:
            self._alive_or_fail(run)
            run.log.refresh()
            done = [cid for cid in run.log.sent if cid in run.log.filled]
            if not done:
                return None
            journal = self.journal()
            return next((cid for cid in done if any(f["client_order_id"] == cid for f in journal.fills)), None)
        return self.wait(filled, timeout, f"a fill of an order run {run.index} sent, journaled")

    def wait_quiet(self, run: BotRun, timeout: float = 20) -> None:
        """Nothing in flight: the process has seen every order it sent end, and the journal has
        counted every exchange fill of its orders."""
        def quiet() -> bool:
            self._alive_or_fail(run)
            if run.log.refresh().in_flight():
                return False
            return not uncovered_trades(self.journal(), self.exchange.state())
        self.wait(quiet, timeout, f"run {run.index} with nothing in flight", interval=STATE_POLL_S)

    # -- kills ------------------------------------------------------------------------------
    def kill_at(self, run: BotRun, mode: str) -> KillRecord:
        """Wait for `mode`'s instant, SIGKILL, and record what was in flight."""
        rng = self.rng
        if mode == STARTUP:
            delay = rng.uniform(0.15, 1.2)  # during start-up: about half before the venue sync (~0.6 s)
            self.wait(lambda: time.monotonic() - run.started >= delay or not run.alive(), delay + 5,
                      f"{delay:.2f}s after run {run.index} started")
        elif mode == ON_SEND:
            self.wait_sent(run, len(run.log.refresh().sent) + rng.choice((1, 1, 2)), interval=0.0005)
            delay = rng.choice((0.0, 0.0, 0.001, 0.002, 0.003, 0.005))  # before or after it reaches the exchange
            if delay:
                deadline = time.monotonic() + delay
                self.wait(lambda: time.monotonic() >= deadline, 1, f"{delay * 1000:.0f} ms", interval=0.0005)
        elif mode == RANDOM:
            self.wait_sent(run, 1)
            delay = rng.uniform(0.0, 1.5)
            deadline = time.monotonic() + delay
            self.wait(lambda: time.monotonic() >= deadline, delay + 1, f"{delay:.2f}s after the first order")
        elif mode == QUIET:
            self.wait_quiet(run)
        else:
            raise ValueError(mode)
        self._alive_or_fail(run)
        after = time.monotonic() - run.started
        returncode = run.kill()
        journal, venue = self.journal(), self.exchange.state()
        record = KillRecord(
            index=len(self.kills), mode=mode, returncode=returncode, after_s=after, sent=len(run.log.sent),
            in_flight_log=run.log.in_flight(), journal_orders=len(journal.orders), journal_fills=len(journal.fills),
            journal_live=journal.live_orders(),
            unjournaled_trades=uncovered_trades(journal, venue),
            unjournaled_orders=sorted({o.client_order_id for o in venue.orders.values()} - set(journal.orders)
                                      - self.foreign),
            lock_free=holder(self.data_dir) is None, synced=run.log.synced)
        self.kills.append(record)
        if returncode != -signal.SIGKILL:
            raise self.fail(f"run {run.index} was not killed by SIGKILL: returncode {returncode}")
        if not record.lock_free:
            self.violations.append(f"kill {record.index}: the data dir lock is still held after SIGKILL: "
                                   f"{holder(self.data_dir)}")
        return record

    # -- checks -----------------------------------------------------------------------------
    def check_settled(self, run: BotRun, where: str, timeout: float = 2.0) -> list[str]:
        """After a restart synced: trading back to ACTIVE (its log's last state change), then (a)
        on the journal's positions, (b), (c) while the process runs: polled until they hold
        (trading goes on, so the journal may lag the exchange by an order's round trip) or the
        deadline passes; the violations left at the deadline are recorded and returned."""
        found: list[str] = []
        try:
            self.wait(lambda: run.log.refresh().states and run.log.states[-1][1] == "ACTIVE", ACTIVE_WITHIN_S,
                      f"run {run.index} logging its return to ACTIVE", interval=0.05)
        except WaitTimeout:
            found.append(f"(d) {where}: run {run.index} not back to ACTIVE within {ACTIVE_WITHIN_S:g}s after its "
                         f"sync (states logged: {run.log.states})")
            self.violations += found

        left: list[str] = []
        quiet = False

        def holds() -> bool:
            nonlocal left, quiet
            sent = len(run.log.refresh().sent)
            venue = self.exchange.state()
            left = journal_violations(self.journal(), venue, where, self.foreign)
            # No order of this process was out while the two were read: nothing can be lagging, so
            # what differs now is what its recovery left (no need to wait for it to change).
            quiet = sent == 0 and not run.log.refresh().sent
            return not left or quiet
        try:
            self.wait(holds, timeout, where, interval=STATE_POLL_S)
        except WaitTimeout:
            pass
        if left:
            self.violations += [v + (" (no order out since the restart)" if quiet else "") for v in left]
            found += left
        return found

    def check_stopped(self, report: dict[str, Any], where: str) -> list[str]:
        """Everything stopped: the report's and the journal's positions, (b) and (c), exact."""
        venue = self.exchange.state()
        journal = self.journal()
        found = position_violations(report_positions(report), venue, f"{where}, report positions")
        found += journal_violations(journal, venue, where, self.foreign)
        exchange = report.get("exchange") or {}
        if exchange.get("matches") is not True:
            found.append(f"(a) {where}: the report's exchange section does not match: {exchange}")
        if exchange.get("orders") != exchange.get("client_order_ids"):
            found.append(f"(c) {where}: the report counts {exchange.get('orders')} exchange orders for "
                         f"{exchange.get('client_order_ids')} client ids")
        self.violations += found
        return found

    def check_trading_resumed(self, run: BotRun, report: dict[str, Any]) -> list[str]:
        """(d) the last process was ACTIVE when its clean stop began, every trading-state row it
        journaled before the stop ends in ACTIVE, and it filled at least one order of its own."""
        found = []
        before = run.state_before_stop()
        if before != "ACTIVE":
            found.append(f"(d) run {run.index}: trading was {before} when the clean stop began (states logged: "
                         f"{run.log.states})")
        rows = [d for d in self.journal().decisions if d[2] == "trading_state" and d[1] >= run.started_wall - 1]
        states = [d[3] for d in rows if not d[3].startswith("HALTED: shutdown")]
        if states and not states[-1].startswith("ACTIVE"):
            found.append(f"(d) run {run.index}: its last journaled trading state before the stop is {states[-1]!r}")
        own = [cid for cid in run.log.sent if cid in run.log.filled]
        if not own:
            found.append(f"(d) run {run.index}: no order it sent was filled")
        if report.get("stopped_by") != "SIGTERM":
            found.append(f"(d) run {run.index}: stopped by {report.get('stopped_by')}, not SIGTERM")
        self.violations += found
        return found

    # -- a whole drill ----------------------------------------------------------------------
    def final_stop(self, run: BotRun) -> dict[str, Any]:
        """SIGTERM the running process; its report (it must exit 0 and write one)."""
        assert run.report_path is not None
        returncode = run.stop()
        if returncode != 0:
            raise self.fail(f"run {run.index} exited {returncode} on SIGTERM:\n{run.log_path.read_text()[-3000:]}")
        if holder(self.data_dir) is not None:
            self.violations.append(f"run {run.index}: the data dir lock is held after a clean stop")
        return json.loads(run.report_path.read_text())

    def kill_restart(self, kills: int, modes: tuple[str, ...] = (ON_SEND, RANDOM, STARTUP)) -> dict[str, Any]:
        """Start, kill `kills` times at the plan's instants (restarting each time, checking after
        each restart has synced), then a last restart that must trade again and stop cleanly. The
        final report."""
        plan = KillPlan(self.rng, kills, modes)
        run = self.start()
        self.wait_sent(run, 1, timeout=40)  # orders flowing before the first kill
        for k, mode in enumerate(plan.modes):
            record = self.kill_at(run, mode)
            self.notes.append(record.line())
            last = k == kills - 1
            run = self.start(report=self.workdir / "report.json" if last else None)
            if not last and plan.modes[k + 1] != STARTUP:  # a start-up kill may come before the sync
                self.wait_synced(run)
                self.check_settled(run, f"after restart {k + 1} (kill {k} {mode})")
        self.wait_synced(run)
        self.check_settled(run, f"after the last restart ({kills}, kill {kills - 1} {plan.modes[-1]})")
        self.wait_new_fill(run)
        report = self.final_stop(run)
        self.check_stopped(report, "after the final clean stop")
        self.check_trading_resumed(run, report)
        return report

    def resting_orders_fill_while_dead(self) -> DeadFills:
        """Orders resting at the exchange when the bot is killed, two of them filled while it is
        dead, one still resting at the restart; the restart's report and what it had to infer.

        The strategy sends market orders only, so the resting orders are placed by this harness
        on the bot's account (same key: the exchange has one account), under client ids of its own
        (foreign to the journal). They rest far from the touch, so nothing fills them while the bot
        lives; once it is dead each of two is edited to cross the book (`orders/edit`: the exchange
        re-enters it and it trades at once), so their fills happen while nobody listens."""
        run = self.start()
        self.wait_synced(run)
        self.wait_new_fill(run)
        bid, ask = self.exchange.book(PERP)
        tag = f"kh-{self.seed}-{self.rng.randrange(1 << 30):x}"
        near = {"buy": (f"{tag}-buy", "BUY", Decimal(2), bid - 40 * PERP_TICK),
                "sell": (f"{tag}-sell", "SELL", Decimal(1), ask + 40 * PERP_TICK)}
        stay = (f"{tag}-stay", "BUY", Decimal(1), bid - 200 * PERP_TICK)
        self.foreign = frozenset([c for c, *_ in near.values()] + [stay[0]])
        ids = {key: self.exchange.place_limit(cid, PERP, side, size, price)
               for key, (cid, side, size, price) in [*near.items(), ("stay", stay)]}

        def resting() -> bool:
            return all(self.exchange.order_status(i) == "OPEN" for i in ids.values())
        self.wait(resting, 10, "the three limit orders resting at the exchange", interval=STATE_POLL_S)
        record = self.kill_at(run, QUIET)
        self.notes.append(record.line())
        resting_at_kill = {k: self.exchange.order_status(i) for k, i in ids.items()}
        for key in ("buy", "sell"):
            bid, ask = self.exchange.book(PERP)
            _, side, size, _ = near[key]
            self.exchange.edit(ids[key], ask + 5 * PERP_TICK if side == "BUY" else bid - 5 * PERP_TICK, size)
            self.wait(lambda i=ids[key]: self.exchange.order_status(i) == "FILLED", 10,
                      f"the resting {key} order filling while the bot is dead", interval=0.1)
        journal_at_kill, venue = self.journal(), self.exchange.state()
        dead = [f.trade_id for f in venue.fills.values() if f.order_id in (ids["buy"], ids["sell"])]
        inferred = uncovered_trades(journal_at_kill, venue)
        run = self.start(report=self.workdir / "report.json")
        self.wait_synced(run)
        self.check_settled(run, "after the restart over fills made while dead")
        journal = self.journal()
        for trade in dead:
            rows = [f for f in journal.fills if f["trade_id"] == trade or f["trade_id"].startswith(trade + ":")]
            if len(rows) != 1:
                self.violations.append(f"(b) a fill made while the bot was dead, trade {trade}, is in the journal "
                                       f"{len(rows)} times: {rows}")
        self.wait_new_fill(run)
        report = self.final_stop(run)
        self.check_stopped(report, "after the final clean stop")
        self.check_trading_resumed(run, report)
        return DeadFills(report, record, resting_at_kill, dead, inferred, len(journal_at_kill.fills),
                         journal_at_kill.live_orders())

    def summary(self) -> str:
        lines = [f"kill seed {self.seed}: {len(self.kills)} kills, {len(self.runs)} runs, the harness met "
                 f"{self.exchange.throttled} HTTP 429s; files in {self.workdir}"] + self.notes
        if self.violations:
            lines.append(f"{len(self.violations)} invariant violation(s):")
            lines += ["  " + v for v in self.violations]
        return "\n".join(lines)
