"""The order state machine and the fsynced order journal: the pieces that make live orders exactly-once."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from laptop_agents.core.errors import CheckpointError, IllegalTransition
from laptop_agents.live.journal import JournalOrder, OrderJournal
from laptop_agents.live.order_state import TERMINAL, TRANSITIONS, OrderState, advance


def order(n: int, **overrides: object) -> JournalOrder:
    fields: dict[str, object] = {
        "client_id": f"la1234567890-{n:06d}",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "order_type": "MARKET",
        "qty": 0.01,
        "price": None,
        "reduce_only": False,
        "purpose": "entry",
        "created_ms": 1_000 + n,
    }
    fields.update(overrides)
    return JournalOrder(**fields)  # type: ignore[arg-type]


def test_every_pair_of_states_is_allowed_exactly_when_the_table_says_so() -> None:
    states: list[OrderState] = list(TRANSITIONS)
    for current, new in itertools.product(states, states):
        if new in TRANSITIONS[current]:
            assert advance("x", current, new) == new
        else:
            with pytest.raises(IllegalTransition, match=f"{current} → {new}"):
                advance("x", current, new)


def test_the_rules_that_make_orders_exactly_once_are_in_the_table() -> None:
    assert TRANSITIONS["INTENT"] == {"SENT", "UNKNOWN", "REJECTED"}  # REJECTED: refused here, before the send
    assert "NOT_FOUND" not in TRANSITIONS["SENT"]  # a send's failure is UNKNOWN first, then looked up
    assert TRANSITIONS["UNKNOWN"] >= {"ACKED", "FILLED", "CANCELLED", "REJECTED", "NOT_FOUND"}
    assert {"FILLED", "CANCELLED", "REJECTED", "NOT_FOUND"} == TERMINAL


def test_the_intent_is_on_disk_before_the_call_returns(tmp_path: Path) -> None:
    journal = OrderJournal(tmp_path / "orders.jsonl")
    journal.intent(order(1))
    # another reader (a restarted process) already sees it, before anything is sent
    lines = (tmp_path / "orders.jsonl").read_bytes().splitlines()
    assert [orjson.loads(x)["op"] for x in lines] == ["intent"]
    journal.close()


def test_a_reopened_journal_has_every_order_state_and_fill(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    journal = OrderJournal(path)
    journal.intent(order(1))
    journal.move(order(1).client_id, "SENT", at_ms=2_000)
    journal.move(order(1).client_id, "ACKED", at_ms=2_010, order_id="9001")
    assert journal.fill(order(1).client_id, trade_id="t1", qty=0.004, price=50_000.0, fee=0.12, at_ms=2_020)
    journal.move(order(1).client_id, "PARTIAL", at_ms=2_020)
    journal.intent(order(2, side="SELL", reduce_only=True, purpose="stop"))
    journal.close()
    again = OrderJournal(path)
    first, second = again.orders[order(1).client_id], again.orders[order(2).client_id]
    assert (first.state, first.order_id, first.filled_qty, first.trade_ids) == ("PARTIAL", "9001", 0.004, ["t1"])
    assert (second.state, second.reduce_only, second.purpose) == ("INTENT", True, "stop")
    assert not again.fill(first.client_id, trade_id="t1", qty=0.004, price=50_000.0, fee=0.12, at_ms=3_000)
    assert again.orders[first.client_id].filled_qty == 0.004  # the repeated trade id was not booked twice
    again.close()


def test_after_a_restart_old_intents_and_sends_are_unknown_until_looked_up(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    journal = OrderJournal(path)
    for n in (1, 2, 3):
        journal.intent(order(n))
    journal.move(order(2).client_id, "SENT", at_ms=10)
    journal.move(order(3).client_id, "SENT", at_ms=10)
    journal.move(order(3).client_id, "ACKED", at_ms=11, order_id="77")
    journal.close()
    again = OrderJournal(path)
    resend, unknown = again.after_restart(at_ms=5_000, resend_window_ms=100)  # created at 1_001..: too old
    assert resend == []
    assert sorted(o.client_id for o in unknown) == [order(1).client_id, order(2).client_id]
    assert all(o.unknown_since_ms == 5_000 for o in unknown)
    assert again.orders[order(3).client_id].state == "ACKED"
    assert {o.client_id for o in again.in_flight("BTCUSDT")} == {order(1).client_id, order(2).client_id}
    again.close()
    third = OrderJournal(path)
    assert third.orders[order(1).client_id].state == "UNKNOWN"  # the moves were journaled
    third.close()


def test_after_a_quick_restart_only_a_young_intent_is_sent_again_and_a_sent_order_is_looked_up(
    tmp_path: Path,
) -> None:
    """A SENT order may be on the venue: sending it again would rest on the venue refusing the repeated
    client id, which it may do only while that order is open (issue 13, item 2)."""
    path = tmp_path / "orders.jsonl"
    journal = OrderJournal(path)
    journal.intent(order(1))
    journal.intent(order(2))
    journal.move(order(2).client_id, "SENT", at_ms=1_010)
    journal.close()
    again = OrderJournal(path)
    resend, unknown = again.after_restart(at_ms=1_500, resend_window_ms=1_000)
    assert [o.client_id for o in resend] == [order(1).client_id]
    assert resend[0].state == "INTENT"  # the same client id, nothing rewritten
    assert [(o.client_id, o.state) for o in unknown] == [(order(2).client_id, "UNKNOWN")]
    again.close()


def test_books_records_replay_in_order_and_foreign_trades_are_deduplicated(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    journal = OrderJournal(path)
    journal.start(balance=1_000.0, at_ms=1)
    journal.start(balance=5.0, at_ms=2)  # once per journal
    journal.intent(order(1))
    assert journal.fill(order(1).client_id, trade_id="t1", qty=0.01, price=100.0, fee=0.01, at_ms=3)
    assert journal.book("trade", symbol="BTCUSDT", trade_id="t2", side="SELL", qty=0.01, price=90.0, fee=0.0, at_ms=4)
    assert not journal.book("trade", symbol="BTCUSDT", trade_id="t2", side="SELL", qty=0.01, price=90.0, fee=0.0,
                            at_ms=5)  # fmt: skip
    journal.book("adopt", symbol="BTCUSDT", side="long", qty=0.5, price=95.0, at_ms=6)
    journal.close()
    again = OrderJournal(path)
    assert again.starting_balance == 1_000.0
    assert [r["op"] for r in again.book_records] == ["fill", "trade", "adopt"]
    assert again.knows_trade("t1") and again.knows_trade("t2")
    again.close()


def test_a_client_id_is_never_used_twice_and_illegal_moves_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    journal = OrderJournal(path)
    journal.intent(order(1))
    with pytest.raises(IllegalTransition, match="already in the journal"):
        journal.intent(order(1))
    size = path.stat().st_size
    with pytest.raises(IllegalTransition, match="INTENT → FILLED"):
        journal.move(order(1).client_id, "FILLED", at_ms=1)
    assert path.stat().st_size == size
    journal.close()


def test_a_torn_last_line_is_cut_off_and_a_damaged_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    journal = OrderJournal(path)
    journal.intent(order(1))
    journal.close()
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"op":"move","client_id":"la12')  # the crash came mid-write
    again = OrderJournal(path)
    assert path.read_bytes() == whole and list(again.orders) == [order(1).client_id]
    again.move(order(1).client_id, "SENT", at_ms=5)
    again.close()
    path.write_bytes(whole + b'{"op":"move","client_id":"' + order(1).client_id.encode() + b'","state":"FILLED",'
                     b'"at_ms":6,"order_id":null}\n')  # fmt: skip
    with pytest.raises(CheckpointError, match=r"line 2 cannot be replayed.*INTENT → FILLED"):
        OrderJournal(path)


WRITER = """
import sys
from pathlib import Path
from laptop_agents.live.journal import JournalOrder, OrderJournal
journal = OrderJournal(Path(sys.argv[1]))
n = len(journal.orders)
print("ready", flush=True)
while True:
    n += 1
    cid = f"la1234567890-{n:06d}"
    journal.intent(JournalOrder(cid, "BTCUSDT", "BUY", "MARKET", 0.01, None, False, "entry", n))
    journal.move(cid, "SENT", at_ms=n)
"""


@pytest.mark.slow
def test_kill_9_while_writing_never_leaves_a_journal_that_cannot_be_replayed(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    rng = random.Random(7)
    seen = 0
    for _ in range(8):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.01, 0.15))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
        journal = OrderJournal(path)  # replays, cutting a torn last line
        states = [o.state for o in journal.orders.values()]
        assert len(states) >= seen  # nothing acknowledged was lost
        assert set(states[:-1]) <= {"SENT", "UNKNOWN"} and states[-1] in ("INTENT", "SENT", "UNKNOWN")
        journal.after_restart(at_ms=10**12, resend_window_ms=0)
        seen = len(states)
        journal.close()
    assert seen > 8
