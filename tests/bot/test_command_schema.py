"""The commands as Discord receives them when the bot syncs: guild commands only, names, options, admin gates."""

from __future__ import annotations

from typing import Any

import discord

from printfleet.bot.commands import ADMIN_COMMANDS
from tests.bot.conftest import World
from tests.bot.harness import GUILD_ID

STRING, INTEGER, BOOLEAN = 3, 4, 5

EXPECTED_OPTIONS: dict[str, list[tuple[str, int, bool]]] = {
    "join": [("job_name", STRING, True), ("est_time", STRING, True), ("printers", STRING, False)],
    "claim": [],
    "cancel": [("entry_id", INTEGER, False)],
    "update_time": [("est_time", STRING, True), ("entry_id", INTEGER, False)],
    "status": [],
    "myjobs": [],
    "predict": [("job_name", STRING, True), ("printer", STRING, False)],
    "history": [("mine", BOOLEAN, False)],
    "queue_remove": [("entry_id", INTEGER, True)],
    "queue_move": [("entry_id", INTEGER, True), ("position", INTEGER, True)],
    "printer_hold": [("printer", STRING, True), ("held", BOOLEAN, True)],
    "queue_pause": [("paused", BOOLEAN, True)],
    "cleared": [("printer", STRING, True), ("outcome", STRING, False)],
    "link": [("code", STRING, True)],
}


def _schema(world: World) -> dict[str, dict[str, Any]]:
    tree = world.client.tree
    return {c.name: c.to_dict(tree) for c in tree.get_commands(guild=discord.Object(id=GUILD_ID))}


def test_every_command_is_registered_on_the_guild_only(world: World) -> None:
    assert set(_schema(world)) == set(EXPECTED_OPTIONS)
    assert world.client.tree.get_commands() == []  # no global command


def test_options_have_their_names_types_and_required_flags(world: World) -> None:
    schema = _schema(world)

    for name, expected in EXPECTED_OPTIONS.items():
        options = [(o["name"], o["type"], o.get("required", False)) for o in schema[name]["options"]]
        assert options == expected, name
        assert schema[name]["type"] == 1  # chat input (slash) command
        assert 1 <= len(schema[name]["description"]) <= 100


def test_limits_and_autocomplete_are_declared_to_discord(world: World) -> None:
    schema = _schema(world)
    join = {o["name"]: o for o in schema["join"]["options"]}
    move = {o["name"]: o for o in schema["queue_move"]["options"]}

    assert (join["job_name"]["min_length"], join["job_name"]["max_length"]) == (1, 200)
    assert join["printers"]["autocomplete"] is True
    assert {o["name"]: o.get("autocomplete", False) for o in schema["predict"]["options"]}["printer"] is True
    assert move["entry_id"]["min_value"] == 1
    assert move["position"]["min_value"] == 1


def test_admin_commands_are_gated_by_the_admin_role_check(world: World) -> None:
    commands = {c.name: c for c in world.client.tree.get_commands(guild=discord.Object(id=GUILD_ID))}

    for name, command in commands.items():
        assert isinstance(command, discord.app_commands.Command)
        checks = [getattr(check, "__name__", "") for check in command.checks]
        assert checks[0] == "check_rate", name  # every command is rate limited first
        assert ("check_admin" in checks) == (name in ADMIN_COMMANDS), name
        assert command.description.startswith("Admin only:") == (name in ADMIN_COMMANDS), name


def test_the_synced_payload_is_the_schema(world: World) -> None:
    assert world.discord.synced is not None  # synced at log-in (setup_hook), to the guild
    assert ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands") in world.discord.requests
    assert {c["name"]: c for c in world.discord.synced} == _schema(world)
