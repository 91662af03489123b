"""turngym's own small stateful APIs, the back-ends of the generated ToolUse tasks.

Each is a plain class: typed public methods are the tools (their schemas come from the
signatures and docstrings, see :mod:`.schema`), public attributes are the state BFCL-style
state checks compare, and ``_load_scenario(config)`` sets the initial state. Methods
report failures as ``{"error": ...}`` instead of raising, as BFCL's back-ends do.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

Weekday = Literal["mon", "tue", "wed", "thu", "fri"]


class BankAPI:
    """Bank accounts with balances and a ledger of transfers."""

    def __init__(self) -> None:
        self.accounts: dict[str, float] = {}
        self.ledger: list[dict[str, Any]] = []

    def _load_scenario(self, config: dict[str, Any], long_context: bool = False) -> None:
        self.accounts = {k: float(v) for k, v in config.get("accounts", {}).items()}
        self.ledger = copy.deepcopy(config.get("ledger", []))

    def get_balance(self, account: str) -> dict[str, Any]:
        """Show an account's balance.

        Args:
            account: the account's name.
        """
        if account not in self.accounts:
            return {"error": f"No account named {account!r}."}
        return {"account": account, "balance": round(self.accounts[account], 2)}

    def deposit(self, account: str, amount: float) -> dict[str, Any]:
        """Put money into an account.

        Args:
            account: the account's name.
            amount: how much to deposit, in dollars (positive).
        """
        if account not in self.accounts:
            return {"error": f"No account named {account!r}."}
        if amount <= 0:
            return {"error": "The amount must be positive."}
        self.accounts[account] = round(self.accounts[account] + amount, 2)
        self.ledger.append({"type": "deposit", "account": account, "amount": amount})
        return {"account": account, "balance": self.accounts[account]}

    def withdraw(self, account: str, amount: float) -> dict[str, Any]:
        """Take money out of an account.

        Args:
            account: the account's name.
            amount: how much to withdraw, in dollars (at most the balance).
        """
        if account not in self.accounts:
            return {"error": f"No account named {account!r}."}
        if amount <= 0 or amount > self.accounts[account]:
            return {"error": "The amount must be positive and at most the balance."}
        self.accounts[account] = round(self.accounts[account] - amount, 2)
        self.ledger.append({"type": "withdraw", "account": account, "amount": amount})
        return {"account": account, "balance": self.accounts[account]}

    def transfer(self, source: str, target: str, amount: float) -> dict[str, Any]:
        """Move money from one account to another.

        Args:
            source: the account the money leaves.
            target: the account the money goes to.
            amount: how much, in dollars (at most the source's balance).
        """
        if source not in self.accounts or target not in self.accounts:
            return {"error": "Both accounts must exist."}
        if amount <= 0 or amount > self.accounts[source]:
            return {"error": "The amount must be positive and at most the source's balance."}
        self.accounts[source] = round(self.accounts[source] - amount, 2)
        self.accounts[target] = round(self.accounts[target] + amount, 2)
        self.ledger.append({"type": "transfer", "source": source, "target": target, "amount": amount})
        return {"source": self.accounts[source], "target": self.accounts[target]}

    def open_account(self, account: str) -> dict[str, Any]:
        """Open a new account with a zero balance.

        Args:
            account: the new account's name.
        """
        if account in self.accounts:
            return {"error": f"An account named {account!r} already exists."}
        self.accounts[account] = 0.0
        return {"account": account, "balance": 0.0}


class NotesAPI:
    """A notebook of titled notes with tags."""

    def __init__(self) -> None:
        self.notes: dict[str, str] = {}
        self.tags: dict[str, list[str]] = {}

    def _load_scenario(self, config: dict[str, Any], long_context: bool = False) -> None:
        self.notes = dict(config.get("notes", {}))
        self.tags = {k: list(v) for k, v in config.get("tags", {}).items()}

    def list_notes(self) -> dict[str, Any]:
        """List the titles of all notes."""
        return {"titles": sorted(self.notes)}

    def read_note(self, title: str) -> dict[str, Any]:
        """Show a note's text.

        Args:
            title: the note's title.
        """
        if title not in self.notes:
            return {"error": f"No note titled {title!r}."}
        return {"title": title, "text": self.notes[title]}

    def create_note(self, title: str, text: str) -> dict[str, Any]:
        """Create a note.

        Args:
            title: the new note's title.
            text: the note's text.
        """
        if title in self.notes:
            return {"error": f"A note titled {title!r} already exists."}
        self.notes[title] = text
        return {"created": title}

    def append_to_note(self, title: str, text: str) -> dict[str, Any]:
        """Add text at the end of a note (separated by a space).

        Args:
            title: the note's title.
            text: the text to add.
        """
        if title not in self.notes:
            return {"error": f"No note titled {title!r}."}
        self.notes[title] = f"{self.notes[title]} {text}".strip()
        return {"title": title, "text": self.notes[title]}

    def delete_note(self, title: str) -> dict[str, Any]:
        """Delete a note and its tags.

        Args:
            title: the note's title.
        """
        if title not in self.notes:
            return {"error": f"No note titled {title!r}."}
        del self.notes[title]
        self.tags.pop(title, None)
        return {"deleted": title}

    def tag_note(self, title: str, tag: str) -> dict[str, Any]:
        """Add a tag to a note.

        Args:
            title: the note's title.
            tag: the tag, one word.
        """
        if title not in self.notes:
            return {"error": f"No note titled {title!r}."}
        tags = self.tags.setdefault(title, [])
        if tag not in tags:
            tags.append(tag)
        return {"title": title, "tags": list(tags)}


class CalendarAPI:
    """A week's calendar of one-hour events."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}

    def _load_scenario(self, config: dict[str, Any], long_context: bool = False) -> None:
        self.events = copy.deepcopy(config.get("events", {}))

    def list_events(self, day: Weekday) -> dict[str, Any]:
        """List a day's events, by hour.

        Args:
            day: the weekday: mon, tue, wed, thu or fri.
        """
        found = sorted((e["hour"], t) for t, e in self.events.items() if e["day"] == day)
        return {"day": day, "events": [{"hour": h, "title": t} for h, t in found]}

    def add_event(self, title: str, day: Weekday, hour: int) -> dict[str, Any]:
        """Add a one-hour event.

        Args:
            title: the event's title.
            day: the weekday: mon, tue, wed, thu or fri.
            hour: the starting hour, 8 to 17.
        """
        if title in self.events:
            return {"error": f"An event titled {title!r} already exists."}
        if not 8 <= hour <= 17:
            return {"error": "The hour must be between 8 and 17."}
        if any(e["day"] == day and e["hour"] == hour for e in self.events.values()):
            return {"error": f"{day} at {hour}:00 is taken."}
        self.events[title] = {"day": day, "hour": hour}
        return {"added": title, "day": day, "hour": hour}

    def move_event(self, title: str, day: Weekday, hour: int) -> dict[str, Any]:
        """Move an event to another time.

        Args:
            title: the event's title.
            day: the new weekday: mon, tue, wed, thu or fri.
            hour: the new starting hour, 8 to 17.
        """
        if title not in self.events:
            return {"error": f"No event titled {title!r}."}
        if not 8 <= hour <= 17:
            return {"error": "The hour must be between 8 and 17."}
        if any(e["day"] == day and e["hour"] == hour for t, e in self.events.items() if t != title):
            return {"error": f"{day} at {hour}:00 is taken."}
        self.events[title] = {"day": day, "hour": hour}
        return {"moved": title, "day": day, "hour": hour}

    def cancel_event(self, title: str) -> dict[str, Any]:
        """Cancel an event.

        Args:
            title: the event's title.
        """
        if title not in self.events:
            return {"error": f"No event titled {title!r}."}
        del self.events[title]
        return {"cancelled": title}


API_CLASSES: dict[str, type] = {"BankAPI": BankAPI, "NotesAPI": NotesAPI, "CalendarAPI": CalendarAPI}
"""The generated tasks' back-end classes by name."""
