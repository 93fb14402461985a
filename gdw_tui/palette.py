"""The command palette: gdw's actions first (the screen's, then help), Textual's own Theme and
Quit after them; Textual's Keys, Maximize and Screenshot are left out."""

from __future__ import annotations

from collections.abc import Iterator

from textual.app import SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider

#: the dashboard's actions in the palette, in this order: (title, help, action name)
DASHBOARD_ACTIONS: tuple[tuple[str, str, str], ...] = (
    ("Submit a task", "Open the submit form (run now, in, at, every, cron)", "submit"),
    ("Cancel the selected task", "Ask first, then cancel it", "cancel"),
    ("Retry the selected task", "Re-run a failed or cancelled task; a waiting one is due now", "retry_now"),
    ("Purge", "Delete the picked finished tasks (or the one under the cursor)", "purge"),
    ("Pick all matching", "Pick every task of this state matching the filter, for r / c / x", "pick_all"),
    ("Error groups", "The top errors of the last 15 minutes; filter by one", "error_groups"),
    ("Queue charts", "Per queue: done/s, wait p50/p99 and depth over the last minute", "charts"),
    ("Pause or resume the queue", "Workers stop or start claiming from it", "toggle_pause"),
    ("Shut down workers", "Drain one worker or all, with a countdown", "shutdown"),
    ("Filter tasks", "Show only tasks on this page matching some text", "filter"),
    ("Go to a task by id", "Open any task, on any page", "goto"),
    ("Sort tasks", "Cycle: age, age reversed (every page); name, attempts (this page)", "sort"),
    ("Task details", "Everything about the selected task", "details"),
)

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
