"""Prometheus metrics, on a registry of their own per application (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from printfleet.domain.printer import PrinterKind


class PrometheusMetrics:
    """Implements the adapters' ConnectionObserver and the monitoring service's MonitoringMetrics.

    Series: ``printfleet_printer_reports_total{kind}``, ``printfleet_printer_parse_errors_total{kind}``,
    ``printfleet_printer_reconnects_total{kind}``, ``printfleet_printers_connected{kind}``.
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
        for kind in PrinterKind:
            for series in (self.reports, self.parse_errors, self.reconnects, self.connected):
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

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for ``GET /metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
