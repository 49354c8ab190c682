"""Prometheus metrics, on a registry of their own per application (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from printfleet.domain.printer import PrinterKind


class PrometheusMetrics:
    """Implements the adapters' ConnectionObserver and the monitoring service's MonitoringMetrics.

    Series: ``printfleet_printer_reports_total{kind}``, ``printfleet_printer_parse_errors_total{kind}``,
    ``printfleet_printer_reconnects_total{kind}``, ``printfleet_printers_connected{kind}``,
    ``printfleet_printer_connection_restarts_total{kind}`` (connection tasks that crashed and were restarted),
    ``printfleet_store_errors_total{error}`` (store operations that failed as unavailable, by driver error class),
    ``printfleet_lease_held{role}``, ``printfleet_lease_renewals_total{role,outcome}`` and
    ``printfleet_lease_takeovers_total{role}`` (singleton roles on PostgreSQL), ``printfleet_printers_owned``,
    ``printfleet_printer_lease_renewals_total{outcome}`` and ``printfleet_printer_takeovers_total`` (printer
    ownership in a shared farm), ``printfleet_announcements_sent_total``
    and ``printfleet_announcement_hints_sent_total`` (NOTIFY payloads and the hints in them),
    ``printfleet_announcements_received_total{kind}``, ``printfleet_announcements_malformed_total``,
    ``printfleet_announcement_listener_reconnects_total`` and ``printfleet_notify_queue_usage`` (the farm's
    announcements on PostgreSQL). Also implements the store health's StoreMetrics, the singletons' LeaseMetrics and
    the announcements' AnnouncementMetrics and printer ownership's OwnershipMetrics.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reports = Counter(
            "printfleet_printer_reports",
            "Printer reports (MQTT messages or poll responses) received and parsed",
            ["kind"],
            registry=self.registry,
        )
        self.parse_errors = Counter(
            "printfleet_printer_parse_errors",
            "Printer messages that could not be parsed (logged and dropped)",
            ["kind"],
            registry=self.registry,
        )
        self.reconnects = Counter(
            "printfleet_printer_reconnects",
            "Reconnect attempts after a printer connection failed",
            ["kind"],
            registry=self.registry,
        )
        self.connected = Gauge(
            "printfleet_printers_connected", "Printers currently reachable", ["kind"], registry=self.registry
        )
        self.connection_restarts = Counter(
            "printfleet_printer_connection_restarts",
            "Printer connection tasks that ended by a bug and were restarted",
            ["kind"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "printfleet_store_errors",
            "Store operations that failed because the database was unavailable (locked, disk full, unreachable)",
            ["error"],
            registry=self.registry,
        )
        self.jobs_created = Counter("auto_jobs_created", "Jobs created automatically", ["kind"], registry=self.registry)
        self.jobs_duplicate_prevented = Counter(
            "auto_jobs_duplicate_prevented",
            "Prints seen again (restart, reconnect, second process) that adopted their job instead of a duplicate",
            ["kind"],
            registry=self.registry,
        )
        self.jobs_startup_detected = Counter(
            "auto_jobs_startup_detected", "Prints found running at start-up", ["kind"], registry=self.registry
        )
        self.jobs_with_start_time = Counter(
            "auto_jobs_with_start_time",
            "Auto jobs whose printer reported a start time",
            ["kind"],
            registry=self.registry,
        )
        self.jobs_without_start_time = Counter(
            "auto_jobs_without_start_time",
            "Auto jobs whose start time is the discovery time",
            ["kind"],
            registry=self.registry,
        )
        self.job_creation_duration = Histogram(
            "auto_job_creation_duration_seconds",
            "State change received to auto job committed, seconds",
            ["kind"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.lease_held = Gauge(
            "printfleet_lease_held",
            "1 while this process holds the role's lease (runs it), else 0",
            ["role"],
            registry=self.registry,
        )
        self.lease_renewals = Counter(
            "printfleet_lease_renewals",
            "Lease renewals of the roles this process holds, by outcome (ok, failed)",
            ["role", "outcome"],
            registry=self.registry,
        )
        self.lease_takeovers = Counter(
            "printfleet_lease_takeovers",
            "Times this process took a role's lease",
            ["role"],
            registry=self.registry,
        )
        self.owned = Gauge(
            "printfleet_printers_owned",
            "Printers this process owns (connects to) in a shared farm",
            registry=self.registry,
        )
        self.printer_lease_renewals = Counter(
            "printfleet_printer_lease_renewals",
            "Renewals of this process's printer leases, by outcome (ok, failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.printer_takeovers = Counter(
            "printfleet_printer_takeovers",
            "Printers this process claimed from a process whose lease had expired",
            registry=self.registry,
        )
        self.announcements_payloads = Counter(
            "printfleet_announcements_sent", "NOTIFY payloads sent to the other processes", registry=self.registry
        )
        self.announcements_hints = Counter(
            "printfleet_announcement_hints_sent", "Hints sent to the farm's other processes", registry=self.registry
        )
        self.announcements_received = Counter(
            "printfleet_announcements_received",
            "Batches of another process's hints re-read from the store, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.announcements_malformed = Counter(
            "printfleet_announcements_malformed", "Announcements not readable (logged)", registry=self.registry
        )
        self.listener_reconnects = Counter(
            "printfleet_announcement_listener_reconnects",
            "Reconnects of the LISTEN connection (everything shown is re-read after each)",
            registry=self.registry,
        )
        self.notify_usage = Gauge(
            "printfleet_notify_queue_usage",
            "Fraction of PostgreSQL's notification queue in use (pg_notification_queue_usage)",
            registry=self.registry,
        )
        for kind in PrinterKind:
            for series in (
                self.reports,
                self.parse_errors,
                self.reconnects,
                self.connected,
                self.connection_restarts,
                self.jobs_created,
                self.jobs_duplicate_prevented,
                self.jobs_startup_detected,
                self.jobs_with_start_time,
                self.jobs_without_start_time,
                self.job_creation_duration,
            ):
                series.labels(kind=kind.value)

    def report_received(self, kind: PrinterKind) -> None:
        """Count one parsed report."""
        self.reports.labels(kind=kind.value).inc()

    def parse_error(self, kind: PrinterKind) -> None:
        """Count one unparsable message."""
        self.parse_errors.labels(kind=kind.value).inc()

    def reconnect(self, kind: PrinterKind) -> None:
        """Count one reconnect attempt."""
        self.reconnects.labels(kind=kind.value).inc()

    def set_connected(self, kind: PrinterKind, count: int) -> None:
        """Set how many printers of ``kind`` are reachable."""
        self.connected.labels(kind=kind.value).set(count)

    def connection_restarted(self, kind: PrinterKind) -> None:
        """Count one restart of a crashed connection task."""
        self.connection_restarts.labels(kind=kind.value).inc()

    def lease_changed(self, name: str, *, held: bool) -> None:
        """This process took (``held``) or left the role ``name``."""
        self.lease_held.labels(role=name).set(1 if held else 0)
        if held:
            self.lease_takeovers.labels(role=name).inc()

    def lease_renewed(self, name: str, *, ok: bool) -> None:
        """Count one renewal of the role ``name``'s lease."""
        self.lease_renewals.labels(role=name, outcome="ok" if ok else "failed").inc()

    def printers_owned(self, count: int) -> None:
        """Set how many printers this process owns."""
        self.owned.set(count)

    def printer_leases_renewed(self, *, ok: bool) -> None:
        """Count one renewal of this process's printer leases."""
        self.printer_lease_renewals.labels(outcome="ok" if ok else "failed").inc()

    def printers_taken_over(self, count: int) -> None:
        """Count ``count`` printers claimed from an expired owner."""
        self.printer_takeovers.inc(count)

    def announcements_sent(self, payloads: int, hints: int) -> None:
        """Count ``payloads`` NOTIFY payloads carrying ``hints`` hints."""
        self.announcements_payloads.inc(payloads)
        self.announcements_hints.inc(hints)

    def announcement_received(self, kind: str) -> None:
        """Count one batch of another process's hints of ``kind`` re-read."""
        self.announcements_received.labels(kind=kind).inc()

    def announcement_malformed(self) -> None:
        """Count one payload that could not be read."""
        self.announcements_malformed.inc()

    def listener_reconnected(self) -> None:
        """Count one reconnect of the LISTEN connection."""
        self.listener_reconnects.inc()

    def notify_queue_usage(self, fraction: float) -> None:
        """Set the notification queue's usage (0–1)."""
        self.notify_usage.set(fraction)

    def store_error(self, error: str) -> None:
        """Count one store operation that failed as unavailable (``error``: the driver's error class)."""
        self.store_errors.labels(error=error).inc()

    def job_created(self, kind: str, *, seconds: float, with_start_time: bool, on_startup: bool) -> None:
        """Count one auto-created job and how long it took from report to commit."""
        self.jobs_created.labels(kind=kind).inc()
        self.job_creation_duration.labels(kind=kind).observe(seconds)
        (self.jobs_with_start_time if with_start_time else self.jobs_without_start_time).labels(kind=kind).inc()
        if on_startup:
            self.jobs_startup_detected.labels(kind=kind).inc()

    def duplicate_prevented(self, kind: str) -> None:
        """Count one duplicate job prevented."""
        self.jobs_duplicate_prevented.labels(kind=kind).inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
