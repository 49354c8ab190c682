"""The words of printers' error codes in messages: English and German (the web UI has its own, translated with the
page). Keys and their sources: :mod:`printfleet.domain.printer_errors`."""

from __future__ import annotations

from printfleet.domain.printer_errors import known_error, read_hms

ENGLISH: dict[str, str] = {
    "runout_ams": "{ams} {unit} slot {slot}: the filament has run out. Insert a new spool.",
    "runout_ams_switched": "{ams} {unit} slot {slot}: the filament has run out; the printer switched to a spool of the "
    "same filament.",
    "runout_external": "The filament on the external spool has run out.",
    "runout_ams_lite": "The AMS Lite filament has run out.",
    "runout_external_left": "The external filament of the left extruder has run out.",
    "runout_external_right": "The external filament of the right extruder has run out.",
    "device_busy": "The printer is busy and refused to start another print.",
    "file_unreadable": "The printer could not read the print file.",
    "storage_error": "The printer's storage card could not be read or written.",
    "ams_mapping_failed": "The printer could not get the AMS mapping for the print.",
    "command_not_verified": "The printer refused a command it could not verify (LAN-only mode with Developer mode is "
    "needed).",
    "thermal_runaway": "The printer stopped: thermal runaway (a heater did not keep its temperature).",
    "heater_too_cold": "The printer stopped: a heater read too cold (MINTEMP: check the thermistor).",
    "heater_too_hot": "The printer stopped: a heater read too hot (MAXTEMP).",
    "heating_failed": "The printer stopped: a heater did not reach its temperature in time.",
    "firmware_halted": "The printer's firmware halted the printer.",
    "link_lost": "OctoPrint lost its connection to the printer.",
    "firmware_error": "The printer reported an error to OctoPrint.",
    "klipper_shutdown": "Klipper shut down (an emergency stop or an error: see the printer's console).",
    "klipper_error": "Klipper stopped on an error (its configuration or its connection to the printer's board).",
    "runout": "The filament has run out.",
    "runout_ams_unit": "{ams} {unit}: a slot's filament has run out. Refill the same slot.",
    "no_storage_card": "The printer has no storage card: insert one (and restart the print).",
    "homing_failed": "Homing an axis failed: check that the toolhead and the bed move freely.",
    "nozzle_clogged": "The nozzle is clogged.",
    "extrusion_resistance": "The extruder meets unusual resistance: the nozzle may be clogging.",
    "power_loss_resume_failed": "Resuming the print after a power loss failed.",
    "power_loss": "The printer lost power during a print; it may be resumed if the part still sticks to the plate.",
    "paused_unknown": "The printer paused the print for an unknown reason.",
    "paused_by_gcode": "The print paused at a pause command in its G-code.",
    "door_open": "The front door is open; the print is paused.",
    "door_open_aborted": "The print was stopped because the front door or the top cover is open.",
    "top_cover_open": "The top cover is open; the print is paused.",
    "first_layer_defects": "The first layer may have defects: look at the print and decide whether to go on.",
    "spaghetti": "The printer sees possible spaghetti (a failed print): look at it.",
    "plate_not_detected": "No build plate is detected.",
    "plate_type_mismatch": "The build plate is not the type the file was sliced for.",
    "plate_marker_missing": "The build plate's position marker was not found.",
    "plate_not_seated": "The build plate is not seated correctly.",
    "foreign_objects": "There are objects on the build plate.",
    "nozzle_temperature": "The nozzle temperature is abnormal.",
    "heatbed_temperature": "The heatbed temperature is abnormal.",
    "chamber_temperature": "The chamber temperature is abnormal.",
    "chamber_too_hot": "The chamber is too hot: open the door or the lid, or cool the room.",
    "chamber_heating_failed": "Heating the chamber failed.",
    "heatbed_fault": "The heatbed's heater has a fault (power the printer off and check it).",
    "heatbed_sensor": "The heatbed's temperature sensor has a fault (it may be disconnected).",
    "nozzle_heater_fault": "The nozzle heater has a fault (it may be short-circuited).",
    "nozzle_sensor": "The nozzle's temperature sensor has a fault (it may be disconnected).",
    "nozzle_heating_slow": "The nozzle does not reach its temperature (check the silicone sock).",
    "hotend_fan": "The hotend fan is too slow or has stopped.",
    "part_fan": "The part cooling fan is too slow or has stopped.",
    "extruder_overloaded": "The extruder motor is overloaded: the nozzle may be clogged or the filament stuck.",
    "extrusion_failed": "The filament failed to extrude: the extruder or the nozzle may be clogged.",
    "nozzle_wrapped": "Filament is wrapped around the nozzle (or the build plate is not flat).",
    "toolhead_cover_off": "The toolhead's front cover has come off.",
    "cutter_stuck": "The filament cutter is stuck.",
    "cut_failed": "Cutting the filament failed.",
    "layer_shift": "The printer skipped steps and recovered: check the print for a layer shift.",
    "ams_feed_failed": "The AMS cannot feed filament to the extruder (tangled, a stuck spool or a loose tube).",
    "ams_tangled": "{ams} {unit}: the filament is tangled or stuck (the assist motor is overloaded).",
    "ams_tangled_slot": "{ams} {unit} slot {slot}: the filament is tangled or stuck.",
    "purge_chute": "Purged filament is piling up in the waste chute.",
    "lidar_offline": "The Micro Lidar is offline.",
    "lidar_dirty": "The Micro Lidar's lens is dirty: clean it.",
    "camera_failed": "The camera did not start: AI failure detection is off.",
}
"""The English text of each :mod:`printfleet.domain.printer_errors` key (messages sent to channels)."""

GERMAN: dict[str, str] = {
    "runout_ams": "{ams} {unit} Fach {slot}: Das Filament ist aufgebraucht. Legen Sie eine neue Spule ein.",
    "runout_ams_switched": "{ams} {unit} Fach {slot}: Das Filament ist aufgebraucht; der Drucker hat auf eine Spule "
    "desselben Filaments gewechselt.",
    "runout_external": "Das Filament der externen Spule ist aufgebraucht.",
    "runout_ams_lite": "Das Filament des AMS Lite ist aufgebraucht.",
    "runout_external_left": "Das externe Filament des linken Extruders ist aufgebraucht.",
    "runout_external_right": "Das externe Filament des rechten Extruders ist aufgebraucht.",
    "device_busy": "Der Drucker ist beschäftigt und hat einen weiteren Druck abgelehnt.",
    "file_unreadable": "Der Drucker konnte die Druckdatei nicht lesen.",
    "storage_error": "Die Speicherkarte des Druckers konnte nicht gelesen oder beschrieben werden.",
    "ams_mapping_failed": "Der Drucker konnte die AMS-Zuordnung für den Druck nicht ermitteln.",
    "command_not_verified": "Der Drucker hat einen Befehl abgelehnt, den er nicht prüfen konnte (LAN-only-Modus mit "
    "Entwicklermodus ist nötig).",
    "thermal_runaway": "Der Drucker hat angehalten: Thermal Runaway (eine Heizung hielt ihre Temperatur nicht).",
    "heater_too_cold": "Der Drucker hat angehalten: Eine Heizung meldete zu kalt (MINTEMP: Thermistor prüfen).",
    "heater_too_hot": "Der Drucker hat angehalten: Eine Heizung meldete zu heiß (MAXTEMP).",
    "heating_failed": "Der Drucker hat angehalten: Eine Heizung erreichte ihre Temperatur nicht rechtzeitig.",
    "firmware_halted": "Die Firmware hat den Drucker angehalten.",
    "link_lost": "OctoPrint hat die Verbindung zum Drucker verloren.",
    "firmware_error": "Der Drucker hat OctoPrint einen Fehler gemeldet.",
    "klipper_shutdown": "Klipper hat abgeschaltet (ein Not-Aus oder ein Fehler: siehe die Konsole des Druckers).",
    "klipper_error": "Klipper ist mit einem Fehler stehen geblieben (seine Konfiguration oder die Verbindung zur "
    "Platine des Druckers).",
    "runout": "Das Filament ist aufgebraucht.",
    "runout_ams_unit": "{ams} {unit}: Das Filament eines Fachs ist aufgebraucht. Füllen Sie dasselbe Fach nach.",
    "no_storage_card": "Im Drucker steckt keine Speicherkarte: Setzen Sie eine ein (und starten Sie den Druck neu).",
    "homing_failed": "Die Referenzfahrt einer Achse ist fehlgeschlagen: Prüfen Sie, ob Druckkopf und Bett frei laufen.",
    "nozzle_clogged": "Die Düse ist verstopft.",
    "extrusion_resistance": "Der Extruder stößt auf ungewöhnlichen Widerstand: Die Düse verstopft möglicherweise.",
    "power_loss_resume_failed": "Der Druck konnte nach einem Stromausfall nicht fortgesetzt werden.",
    "power_loss": "Der Drucker hatte während eines Drucks einen Stromausfall; er lässt sich fortsetzen, wenn das Teil "
    "noch auf der Platte haftet.",
    "paused_unknown": "Der Drucker hat den Druck aus unbekanntem Grund pausiert.",
    "paused_by_gcode": "Der Druck hielt an einem Pause-Befehl in seinem G-Code an.",
    "door_open": "Die Fronttür ist offen; der Druck ist pausiert.",
    "door_open_aborted": "Der Druck wurde abgebrochen, weil die Fronttür oder der Deckel offen ist.",
    "top_cover_open": "Der Deckel ist offen; der Druck ist pausiert.",
    "first_layer_defects": "Die erste Schicht hat vielleicht Fehler: Sehen Sie sich den Druck an und entscheiden Sie, "
    "ob er weiterläuft.",
    "spaghetti": "Der Drucker erkennt mögliche Spaghetti (ein misslungener Druck): Sehen Sie nach.",
    "plate_not_detected": "Es wird keine Druckplatte erkannt.",
    "plate_type_mismatch": "Die Druckplatte ist nicht die, für die die Datei geslict wurde.",
    "plate_marker_missing": "Die Positionsmarke der Druckplatte wurde nicht gefunden.",
    "plate_not_seated": "Die Druckplatte liegt nicht richtig auf.",
    "foreign_objects": "Auf der Druckplatte liegen Gegenstände.",
    "nozzle_temperature": "Die Düsentemperatur ist auffällig.",
    "heatbed_temperature": "Die Heizbetttemperatur ist auffällig.",
    "chamber_temperature": "Die Bauraumtemperatur ist auffällig.",
    "chamber_too_hot": "Der Bauraum ist zu heiß: Öffnen Sie Tür oder Deckel, oder kühlen Sie den Raum.",
    "chamber_heating_failed": "Der Bauraum konnte nicht geheizt werden.",
    "heatbed_fault": "Die Heizung des Heizbetts hat einen Fehler (Drucker ausschalten und prüfen).",
    "heatbed_sensor": "Der Temperaturfühler des Heizbetts hat einen Fehler (vielleicht nicht angeschlossen).",
    "nozzle_heater_fault": "Die Düsenheizung hat einen Fehler (vielleicht ein Kurzschluss).",
    "nozzle_sensor": "Der Temperaturfühler der Düse hat einen Fehler (vielleicht nicht angeschlossen).",
    "nozzle_heating_slow": "Die Düse erreicht ihre Temperatur nicht (prüfen Sie die Silikonsocke).",
    "hotend_fan": "Der Hotend-Lüfter ist zu langsam oder steht.",
    "part_fan": "Der Bauteillüfter ist zu langsam oder steht.",
    "extruder_overloaded": "Der Extrudermotor ist überlastet: Die Düse ist vielleicht verstopft oder das Filament "
    "hängt fest.",
    "extrusion_failed": "Das Filament wurde nicht extrudiert: Extruder oder Düse sind vielleicht verstopft.",
    "nozzle_wrapped": "Filament hat sich um die Düse gewickelt (oder die Druckplatte liegt nicht eben).",
    "toolhead_cover_off": "Die Frontabdeckung des Druckkopfs hat sich gelöst.",
    "cutter_stuck": "Der Filamentschneider klemmt.",
    "cut_failed": "Das Filament konnte nicht geschnitten werden.",
    "layer_shift": "Der Drucker hat Schritte verloren und sich gefangen: Prüfen Sie den Druck auf einen "
    "Schichtversatz.",
    "ams_feed_failed": "Das AMS kann kein Filament zum Extruder fördern (verheddert, eine klemmende Spule oder ein "
    "loser Schlauch).",
    "ams_tangled": "{ams} {unit}: Das Filament ist verheddert oder hängt fest (der Hilfsmotor ist überlastet).",
    "ams_tangled_slot": "{ams} {unit} Fach {slot}: Das Filament ist verheddert oder hängt fest.",
    "purge_chute": "Ausgespültes Filament staut sich im Abfallschacht.",
    "lidar_offline": "Der Micro Lidar ist nicht erreichbar.",
    "lidar_dirty": "Die Linse des Micro Lidar ist verschmutzt: Reinigen Sie sie.",
    "camera_failed": "Die Kamera startete nicht: Die KI-Fehlererkennung ist aus.",
}
"""The German text of each key, as :data:`ENGLISH`."""


_LEVELS = {
    "en": {"fatal": "A fatal error", "serious": "A serious error", "info": "A notice"},
    "de": {"fatal": "Ein schwerer Fehler", "serious": "Ein ernster Fehler", "info": "Ein Hinweis"},
}
_ANY_LEVEL = {"en": "An error", "de": "Ein Fehler"}
_MODULES_DE = {
    "printer": "des Druckers",
    "main board": "der Hauptplatine",
    "toolhead": "des Druckkopfs",
    "camera": "der Kamera",
}


def error_text(code: str, language: str = "en") -> str | None:
    """The text of an error code in ``language`` (``en``, ``de``): its meaning when known; for an HMS code printfleet
    has no words for, its level and module (``A serious error of the AMS A (Bambu HMS).``); else None (the code
    alone is then shown)."""
    texts = GERMAN if language == "de" else ENGLISH
    known = known_error(code)
    if known is not None:
        return texts[known.key].format(**known.values)
    read = read_hms(code)
    if read is None:
        return None
    where = read.module if read.unit is None else f"{read.module} {read.unit}"
    lang = "de" if language == "de" else "en"
    level = _LEVELS[lang].get(read.severity, _ANY_LEVEL[lang])
    if lang == "de":
        place = _MODULES_DE.get(read.module) or (f"des {where}" if read.module.startswith("AMS") else f"von {where}")
        return f"{level} {place} (Bambu HMS)."
    return f"{level} of the {where} (Bambu HMS)."
