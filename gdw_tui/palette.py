"""The command palette: gdw's actions first (the screen's, then help), Textual's own Theme and
Quit after them; Textual's Keys, Maximize and Screenshot are left out."""

from __future__ import annotations

from collections.abc import Iterator

from textual.app import SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider

#: Textual's own commands kept, after gdw's
TEXTUAL_KEPT = frozenset({"Theme", "Quit"})


class GdwCommands(Provider):
    def commands(self) -> Iterator[SystemCommand]:
        screen_commands = getattr(self.screen, "palette_commands", None)
        if screen_commands is not None:
            yield from screen_commands()
        help_action = getattr(self.app, "action_help", None)
        if help_action is not None:
            yield SystemCommand("Help: every key", "What each key does, by area (? or F1)", help_action)
        for command in self.app.get_system_commands(self.screen):
            if command.title in TEXTUAL_KEPT:
                yield command

    async def discover(self) -> Hits:
        for command in self.commands():
            if command.discover:
                yield DiscoveryHit(command.title, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.callback, help=command.help)
