"""The demo's seed data (``printfleet demo``): its accounts, the sample files in the library, example maintenance
tasks, a chain of scheduled prints and example shop orders with a product profile. Each seeds only what is not
there yet, so a restarted demo keeps what was done with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

from printfleet.config import Settings
from printfleet.domain.printer import QueueMode


class EtsyStandInLike(Protocol):
    """What the demo needs of its Etsy stand-in (``printfleet.sim.etsy.EtsyStandIn``)."""

    @property
    def url(self) -> str: ...
    @property
    def token_url(self) -> str: ...
    @property
    def authorize_url(self) -> str: ...
    def issue_tokens(self) -> dict[str, Any]: ...


DEMO_ACCOUNTS = (("admin", "Demo Admin", "admin"), ("alice", "Alice", "member"), ("bob", "Bob", "member"))
"""The demo's accounts: (username, display name, role)."""


async def demo_accounts(settings: Settings) -> list[tuple[str, str, str]]:
    """Give the demo's accounts fresh random passwords (creating them on the first run): (username, password,
    role) to print beside the URL. Only the demo does this; a real install never has a default password."""
    from printfleet.cli_users import account_service
    from printfleet.domain.accounts.credentials import new_password
    from printfleet.domain.accounts.roles import Role
    from printfleet.services.errors import NotFound

    printed = []
    async with account_service(settings) as accounts:
        for username, display_name, role in DEMO_ACCOUNTS:
            password = new_password()
            try:
                user = await accounts.find_user(username)
                await accounts.reset_password(user.id, password, actor=None)
            except NotFound:
                await accounts.create_user(
                    username=username, password=password, role=Role(role), display_name=display_name
                )
            printed.append((username, password, role))
    return printed


async def demo_files(settings: Settings) -> int:
    """Put the sample sliced files (``printfleet.sim.samples``) into the file library, attributed to nobody; the
    ones already there (stored by SHA-256) stay as they are. How many were added."""
    from printfleet.services.files import FileLibrary
    from printfleet.sim.samples import demo_samples
    from printfleet.store.database import Database, migrate
    from printfleet.store.files import SqlFileRepository

    async def once(content: bytes) -> AsyncIterator[bytes]:
        yield content

    await migrate(settings.database_url)
    added = 0
    async with Database(settings.database_url) as database:
        library = FileLibrary(
            repository=SqlFileRepository(database),
            directory=Path(settings.files.directory),
            max_size=settings.files.max_size,
        )
        for name, content in demo_samples():
            _, new = await library.store(name, once(content), uploaded_by=None)
            added += new
    return added


DEMO_MAINTENANCE = (
    ("Clean the nozzle and wipe the plate", 20.0, "print_hours", 17.5),
    ("Lubricate the rods and lead screws", 100.0, "print_hours", 104.0),
    ("Check belt tension", 30.0, "days", 0.0),
    ("Replace the nozzle wiper", 200.0, "jobs", 60.0),
)
"""The demo's example maintenance tasks: (name, interval, unit, counter offset of the first printer, so that one
task shows due soon and one due on first start)."""


async def demo_maintenance(settings: Settings, printer_ids: list[str]) -> None:
    """Add the example maintenance tasks on the demo's first start (never when tasks exist)."""
    from printfleet.domain.maintenance import IntervalUnit, NewTask, PrinterTask
    from printfleet.store.database import Database
    from printfleet.store.maintenance import SqlMaintenanceRepository

    async with Database(settings.database_url) as database:
        repository = SqlMaintenanceRepository(database)
        if await repository.tasks():
            return
        now = datetime.now(UTC)
        for name, interval, unit, offset in DEMO_MAINTENANCE:
            task = await repository.add_task(NewTask(name=name, interval=interval, unit=IntervalUnit(unit)), now)
            if offset and printer_ids:
                await repository.save_record(PrinterTask(task_id=task.id, printer_id=printer_ids[0], offset=offset))


DEMO_SCHEDULED = {"x1c-3": QueueMode.SCHEDULED}
"""The demo's printers that the scheduler sends prints to (the spare Bambu Lab printer)."""


async def demo_schedule(settings: Settings) -> int:
    """Schedule a chain of three calibration cubes on the demo's scheduled printer, each after the one before ends,
    unless scheduled prints exist already. How many were added."""
    from printfleet.domain.files.library import FileQuery
    from printfleet.domain.schedule.model import PrintPlan, ScheduleQuery, expand_copies
    from printfleet.store.database import Database
    from printfleet.store.files import SqlFileRepository
    from printfleet.store.schedule import SqlScheduleRepository

    async with Database(settings.database_url) as database:
        repository = SqlScheduleRepository(database)
        if (await repository.list_prints(ScheduleQuery(limit=1)))[1]:
            return 0
        files, _ = await SqlFileRepository(database).list(FileQuery(search="calibration_cube", limit=1))
        if not files:
            return 0
        now = datetime.now(UTC)
        previous: int | None = None
        for step in ("A", "B", "C"):
            plan = PrintPlan(
                job_name=f"Demo chain {step}",
                file_id=files[0].id,
                printer_id=next(iter(DEMO_SCHEDULED)),
                depends_on=previous,
                estimated_duration_minutes=95,
                priority=1,
            )
            [stored] = await repository.add_many(expand_copies(plan, created_by=None, created_at=now))
            previous = stored.id
    return 3


DEMO_ORDERS = (
    ("DEMO-1001", "Ada Lovelace", 3, None),
    ("DEMO-1002", "Grace Hopper", 1, None),
    ("DEMO-1003", "Alan Turing", 1, "Alan"),
)
"""The demo's example shop orders: (order number, buyer, quantity of calibration cubes, personalisation). The
personalised one needs attention: the demo's profile does not allow personalisation."""


async def demo_orders(settings: Settings) -> int:
    """On the demo's first start, a product profile for the calibration cube (2 a plate, on the scheduled printer)
    and the example orders, matched to it (typed in: source ``manual``). How many orders were added."""
    from printfleet.domain.files.library import FileQuery
    from printfleet.domain.orders.model import IncomingLine, IncomingOrder, OrderQuery, OrderSource
    from printfleet.domain.orders.planning import order_status, plates_total, progress
    from printfleet.domain.orders.profiles import ProfileDraft, ProfilePart, line_problem, match_profile
    from printfleet.store.database import Database
    from printfleet.store.files import SqlFileRepository
    from printfleet.store.orders.repository import SqlOrderRepository

    async with Database(settings.database_url) as database:
        repository = SqlOrderRepository(database)
        if (await repository.list_orders(OrderQuery(limit=1)))[1] or await repository.profiles():
            return 0
        files, _ = await SqlFileRepository(database).list(FileQuery(search="calibration_cube", limit=1))
        if not files:
            return 0
        now = datetime.now(UTC)
        profile = await repository.add_profile(
            ProfileDraft(
                name="Calibration cube",
                listing_id="1000000001",
                parts=(ProfilePart(file_id=files[0].id, units_per_plate=2, material_type="PLA"),),
                printer_id=next(iter(DEMO_SCHEDULED)),
                priority=1,
            ),
            now,
        )
        for number, buyer, quantity, personalisation in DEMO_ORDERS:
            line = IncomingLine(
                external_id="1",
                title="Calibration cube",
                quantity=quantity,
                listing_id="1000000001",
                personalisation=personalisation,
            )
            matched = match_profile(line, [profile])
            order, _ = await repository.save_order(
                IncomingOrder(
                    source=OrderSource.MANUAL,
                    external_id=number,
                    buyer_name=buyer,
                    created_at=now,
                    paid_at=now,
                    ship_by=now + timedelta(days=3),
                    lines=(line,),
                ),
                [(matched.id if matched else None, line_problem(line, matched))],
                created_by=None,
                now=now,
            )
            status, problem = order_status(order, progress(plates_total(order, {profile.id: profile}), []))
            await repository.update_order(order.id, {"status": status, "problem": problem}, now)
    return len(DEMO_ORDERS)


DEMO_ETSY_KEYSTRING = "demo0keystring0printfleet"
DEMO_ETSY_SECRET = "demo0secret"  # noqa: S105 (the demo stand-in's, not a real app's)
"""The demo's Etsy app, known only to the demo's stand-in."""

DEMO_ETSY_PROFILES = (
    ("Star keychain", 1_462_850_311, "calibration_cube", 4),
    ("Spiral vase", 1_462_850_313, "shelf_bracket", 1),
)
"""Product profiles for the stand-in's demo listings (``EtsyStandIn.seed_demo``): (name, listing id, sample file
searched by name, units per plate). The personalised name tag has none: it needs attention."""


async def demo_etsy(settings: Settings, stand_in: EtsyStandInLike) -> Settings:
    """Connect the demo to its Etsy stand-in: ``settings`` with ``etsy.*`` pointing at it and paid orders scheduled
    as they arrive; fresh tokens from the stand-in sealed in the store (the stand-in keeps nothing between starts);
    on the first start, product profiles for its listings."""
    from printfleet.app.orders import ETSY, SealedTokenStore
    from printfleet.domain.files.library import FileQuery
    from printfleet.domain.orders.profiles import ProfileDraft, ProfilePart
    from printfleet.domain.orders.shops import ConnectionState
    from printfleet.security.secretbox import SecretBox
    from printfleet.shops.etsy.oauth import SCOPES, tokens_from_response
    from printfleet.store.database import Database
    from printfleet.store.files import SqlFileRepository
    from printfleet.store.orders.repository import SqlOrderRepository
    from printfleet.store.orders.shops import SqlShopRepository

    connected = settings.model_copy(
        update={
            "etsy": settings.etsy.model_copy(
                update={
                    "keystring": DEMO_ETSY_KEYSTRING,
                    "shared_secret": SecretStr(DEMO_ETSY_SECRET),
                    "api_url": stand_in.url,
                    "token_url": stand_in.token_url,
                    "authorize_url": stand_in.authorize_url,
                    "poll_interval": 30.0,
                }
            ),
            "orders": settings.orders.model_copy(update={"auto_schedule": True}),
        }
    )
    now = datetime.now(UTC)
    box = SecretBox.from_settings(None, Path(settings.secrets.key_file))
    async with Database(settings.database_url) as database:
        shops = SqlShopRepository(database)
        tokens = tokens_from_response(stand_in.issue_tokens(), now=now, scopes=SCOPES)
        await SealedTokenStore(shops, box, lambda: now).save(tokens)
        await shops.update(ETSY, now, state=ConnectionState.CONNECTED, last_error=None)
        orders = SqlOrderRepository(database)
        if any(profile.listing_id == str(DEMO_ETSY_PROFILES[0][1]) for profile in await orders.profiles()):
            return connected
        for name, listing, sample, units in DEMO_ETSY_PROFILES:
            files, _ = await SqlFileRepository(database).list(FileQuery(search=sample, limit=1))
            if not files:
                continue
            draft = ProfileDraft(
                name=name,
                listing_id=str(listing),
                parts=(ProfilePart(file_id=files[0].id, units_per_plate=units, material_type="PLA"),),
                printer_id=next(iter(DEMO_SCHEDULED)),
            )
            await orders.add_profile(draft, now)
    return connected


DEMO_HISTORY_DAYS = 7
"""How far back the demo's history goes (days)."""

_HISTORY_ENDINGS = (
    *(["completed"] * 17),
    "failed",
    "failed",
    "cancelled",
    "unknown",
)
_HISTORY_FAILURES = (
    None,  # FAILED on the printer's screen, no code
    "printer error (0700_2000_0002_0001)",  # AMS unit 1 slot 2 ran out of filament
    "printer error (1200_2000_0002_0001)",  # AMS Lite slot 2 ran out of filament
)


async def demo_history(settings: Settings, printers: list[tuple[str, str]], *, seed: int = 7) -> int:
    """Give the demo's printers (``(id, kind)``) a past: a week of prints, most completed, some failed with the
    printer's error code, cancelled or ended unseen, with the printers' state changes, so that Jobs and Statistics
    are filled on the first start. Only when no job is older than an hour (a restarted demo keeps its own past).
    How many jobs were added; the printers must be in the store (the server has started)."""
    import random

    from printfleet.domain.jobs import JobFilter, JobStatus, NewJob
    from printfleet.domain.printer import PrinterState, PrinterStatus
    from printfleet.sim.farm import DEMO_FILES
    from printfleet.store.database import Database
    from printfleet.store.jobs import SqlJobRepository
    from printfleet.store.printers import SqlPrinterRepository

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    stop = now - timedelta(hours=1)
    added = 0
    async with Database(settings.database_url) as database:
        jobs = SqlJobRepository(database)
        states = SqlPrinterRepository(database)
        if (await jobs.list_jobs(JobFilter(until=stop, limit=1)))[0]:
            return 0
        for printer_id, kind in printers:
            at = now - timedelta(days=DEMO_HISTORY_DAYS, minutes=rng.uniform(0, 120))
            previous: PrinterState | None = None
            while True:
                duration = timedelta(minutes=rng.uniform(25, 360))
                if at + duration > stop:
                    break
                file_name = rng.choice(DEMO_FILES)
                if kind != "bambu":
                    file_name = file_name.removesuffix(".gcode.3mf") + ".gcode"
                ending = rng.choice(_HISTORY_ENDINGS)
                if ending in ("failed", "cancelled"):
                    duration *= rng.uniform(0.05, 0.7)  # stopped part way
                reason = {
                    "failed": rng.choice(_HISTORY_FAILURES),
                    "unknown": "printer idle; the end of the print was not seen",
                }.get(ending)
                job = await jobs.create_job(
                    NewJob(
                        printer_id=printer_id,
                        printer_type=kind,
                        job_name=file_name.split(".")[0],
                        filename=file_name,
                        status=JobStatus(ending),  # ended already: a live print may hold the active slot
                        created_at=at,
                        start_time=at,
                        auto_created=True,
                        printer_start_time=at,
                    )
                )
                end = at + duration
                await jobs.update_job(
                    job.id,
                    status=ending,
                    end_time=end,
                    duration_seconds=int(duration.total_seconds()),
                    progress=100.0 if ending == "completed" else round(rng.uniform(5, 70), 1),
                    end_reason=reason,
                )
                ended = {"completed": PrinterState.FINISHED, "failed": PrinterState.FAILED}.get(
                    ending, PrinterState.CANCELLED if ending == "cancelled" else PrinterState.IDLE
                )
                for state, moment in ((PrinterState.PRINTING, at), (ended, end)):
                    await states.record_transition(
                        printer_id=printer_id,
                        from_state=previous,
                        status=PrinterStatus(state=state, file_name=file_name),
                        at=moment,
                    )
                    previous = state
                added += 1
                at = end + timedelta(minutes=rng.uniform(10, 240))
    return added
