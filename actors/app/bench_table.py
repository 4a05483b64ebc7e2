"""The bench's human table: `bin/perpsbot bench` without --json. Owns the wording and the layout of
the rows only. Must never compute a figure (every number comes from the result the bench
measured) or print anything itself.
"""

from __future__ import annotations

from typing import Any


def _n(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


def _row(label: str, value: str, unit: str) -> str:
    return f"  {label:<62}{value:>10} {unit}"


def render(result: dict[str, Any]) -> str:
    """The human table. It names the floor the ingest rate is compared with."""
    i, t, r, m = result["ingest"], result["tick_to_order_us"], result["replay"], result["machine"]
    rows = [
        f"perpsbot bench: {m['cores']} cores, Python {m['python']}, {m['platform']} "
        f"({result['bench_wall_s']} s)",
        "",
        f"ingest   {i['frames']:,} level2 frames, both products: a snapshot each, then updates of "
        f"{i['levels_per_update_frame']} levels on average; median of {i['repeats']} passes",
        _row(f"decode -> book -> liquidity, views every {i['view_interval_s']} s (live run)",
             _n(i["frames_per_s"]), "frames/s"),
        _row(f"  same, views every {i['view_interval_s']} s of frame time (replay clock)",
             _n(i["frames_per_s_views_on_frame_time"]), "frames/s"),
        _row("  same, liquidity on every frame", _n(i["frames_per_s_liquidity_every_frame"]), "frames/s"),
        _row(f"  the level path before its level structs (live views): {i['vs_before']:.2f}x "
             f"{'(same books)' if i['same_book_before'] else '(BOOKS DIFFER)'}", _n(i["before_frames_per_s"]), "frames/s"),
        _row("decode: bare typed msgspec decode (FrameDecoder.decode_or_raise)", _n(i["floor_frames_per_s"]),
             "frames/s"),
        _row("floor: msgspec's leanest typed decode of the same frames", _n(i["msgspec_floor_frames_per_s"]),
             "frames/s"),
        f"  decode takes {i['decode_vs_msgspec_floor']:.2f}x the floor's time; ingest runs at "
        f"{i['vs_floor'] * 100:.1f}% of the bare decode; msgspec.Raw (no values built): "
        f"{_n(i['msgspec_raw_frames_per_s'])} frames/s",
        _row("2,000-level snapshot (snapshot_2000_ms), decode -> book", f"{i['snapshot_2000_ms']:.2f}", "ms"),
        "",
        f"latency  tick-to-order (frame in -> order at venue), paper session of {t['session_s']} s",
        _row(f"p50 of n={t['n']}", _n(t["p50"]), "us"),
        _row("p99", _n(t["p99"]), "us"),
        "",
    ]
    o, rec = result["journal_overhead"], result["recovery"]
    rows += [
        _row("  p50 without the write-ahead (no intent log)", _n(o["p50_without_us"]), "us"),
        f"  write-ahead / none: {o['ratio']}x (the write-ahead adds {((o['ratio'] or 1) - 1) * 100:.0f}%)",
        "",
        f"recovery rebuilding trading-ready state from a journal of {rec['fills']:,} fills (no venue round trips)",
        _row("integrity check, read, ledger replay, gateway seed, reconciliation", f"{rec['seconds']:.2f}", "s"),
        _row("  peak RSS with it", _n(rec.get("peak_rss_mb")), "MB"),
        "",
    ]
    if r.get("events_per_s") is None:
        rows.append(f"replay   not measured: {r.get('error')}")
    else:
        rows.append(f"replay   {r['capture']}: {r['frames']:,} frames through the whole actor tree; median of "
                    f"{r.get('repeats', 1)} runs on each scheduler")
        rows.append(_row("single-threaded dispatcher (replay)", _n(r["events_per_s"]), "events/s"))
        if r.get("threads_events_per_s") is not None:
            rows.append(_row("a Pykka thread per actor (replay --threads, as live)", _n(r["threads_events_per_s"]),
                             "events/s"))
            rows.append(f"  dispatcher / threads: {r['dispatcher_vs_threads']}x; "
                        f"{'the same fingerprint' if r['same_fingerprint'] else 'FINGERPRINTS DIFFER'}")
    rows.append("")
    rows.append(f"memory   peak RSS {result['memory']['peak_rss_mb']} MB")
    if "soak" in result:
        rows += ["", *(_soak_rows(result["soak"]) if "error" not in result["soak"]
                       else [f"soak     not measured: {result['soak']['error']}"])]
    return "\n".join(rows)


def _soak_rows(s: dict[str, Any]) -> list[str]:
    rows = [f"soak     {s['simulated_h']} simulated hours, {s['frames']:,} frames, {s['orders']} orders, "
            f"{s['fills']} fills through the whole tree in {s['wall_s']} s",
            _row("RSS at the start", _n(s["rss_mb_start"]), "MB"),
            _row("RSS at the end", _n(s["rss_mb_end"]), "MB"),
            _row("RSS slope after the first simulated hour", f"{s['slope_mb_per_h']}", "MB/h")]
    growing = s.get("growing_collections") or {}
    rows.append("  collections still growing: " + (", ".join(f"{k} {a}->{b}" for k, (a, b) in growing.items())
                                                   or "none"))
    return rows
