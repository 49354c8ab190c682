"""Which process of a farm owns (connects to) which printer: rendezvous hashing and the moves one process makes.

A farm's processes share the printers through a lease per printer (:mod:`printfleet.services.farm.ownership`). Each
process, at each round, looks at every printer's lease and the processes alive, and decides on its own what to
claim and what to let go, by these rules (moonraker-auth-scale research C1, a prototype measured there):

- **Preference by rendezvous hashing** (highest random weight): every printer prefers the live process with the
  highest hash of ``(process, printer)``. Printers spread evenly, and when a process comes or goes only the printers
  that preferred it (about ``1/N``) change hands; nothing else moves.
- **Fair share** ``⌈printers ÷ live processes⌉``: no process claims beyond it. Below it, a process claims the free
  printers it wins first, then any other free printer (the printers of a process that died, until the processes'
  view settles). Above it, it lets go of its excess: first printers another live process wins, then, when those are
  too few, its own, so that a process no printer happens to prefer (a few printers over several processes) still
  gets its share. With every process at or below its share and ``share × processes ≥ printers``, a free printer
  always finds a process with room: the farm settles with every printer owned and none owned twice.

Pure: the store judges expiry with the database's clock and hands the result in.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass


def weight(process: str, printer_id: str) -> int:
    """The rendezvous weight of ``printer_id`` for ``process``: the first 8 bytes of BLAKE2b over both names, as an
    unsigned integer (stable across processes, machines and Python versions, unlike ``hash()``)."""
    digest = hashlib.blake2b(f"{process}\x00{printer_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def preferred(printer_id: str, processes: Collection[str]) -> str | None:
    """The process ``printer_id`` prefers among ``processes`` (the highest weight; ties, which need equal 64-bit
    hashes, go to the smaller name); None when there is none."""
    if not processes:
        return None
    return max(sorted(processes), key=lambda process: weight(process, printer_id))


def fair_share(printers: int, processes: int) -> int:
    """How many printers each of ``processes`` should own: ``⌈printers ÷ processes⌉`` (all of them for one)."""
    return math.ceil(printers / processes) if processes > 0 else printers


@dataclass(frozen=True, slots=True)
class LeaseState:
    """A printer's lease as the store last read it: its ``owner`` (None: never claimed or let go) and whether the
    lease is ``live`` (not expired, by the database's clock)."""

    owner: str | None
    live: bool


@dataclass(frozen=True, slots=True)
class Moves:
    """What one process does in a round: the printers to ``claim`` (free ones, in the order to try) and those to
    ``release`` (its own, for the live process each prefers)."""

    claim: tuple[str, ...] = ()
    release: tuple[str, ...] = ()


def plan_moves(
    me: str, printers: Sequence[str], leases: Mapping[str, LeaseState], live_processes: Collection[str]
) -> Moves:
    """The moves of process ``me`` given every printer of the farm, their ``leases`` (a printer missing there has no
    lease yet) and the processes seen alive (``me`` counts as alive whatever the list says)."""
    processes = {*live_processes, me}
    share = fair_share(len(printers), len(processes))
    mine: list[str] = []
    won_free: list[str] = []
    other_free: list[str] = []
    for printer_id in printers:
        lease = leases.get(printer_id)
        winner = preferred(printer_id, processes)
        if lease is not None and lease.live and lease.owner == me:
            mine.append(printer_id)
        elif lease is None or not lease.live or lease.owner is None:
            (won_free if winner == me else other_free).append(printer_id)
    room = max(0, share - len(mine))
    claim = (*won_free, *other_free)[:room]
    excess = len(mine) - share
    release: tuple[str, ...] = ()
    if excess > 0:  # what others win first, then what this process wins itself: a process none prefers gets its share
        others_win = [printer_id for printer_id in mine if preferred(printer_id, processes) != me]
        own_win = [printer_id for printer_id in mine if preferred(printer_id, processes) == me]
        release = tuple([*others_win, *own_win][:excess])
    return Moves(claim=claim, release=release)
