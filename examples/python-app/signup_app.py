"""A small B2B app instrumented with Segment's Python library (segment-analytics-python): the kind of code whose
Segment calls decide what reaches Pendo. Nothing here knows about pytest-segpendo: the test points the
library's ``host`` at the fake Segment API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segment.analytics import Client


@dataclass
class Workspace:
    id: str
    name: str
    plan: str
    seats: int


@dataclass
class SignupService:
    """Signs users up into workspaces and records what they do, as a product team would instrument it."""

    analytics: Client
    users: dict[str, dict[str, Any]] = field(default_factory=dict)

    def sign_up(self, user_id: str, email: str, name: str, workspace: Workspace) -> None:
        self.users[user_id] = {"email": email, "workspace": workspace}
        self.analytics.identify(
            user_id, {"email": email, "name": name, "plan": workspace.plan, "createdAt": "2026-01-05T09:00:00Z"}
        )
        self.analytics.group(
            user_id, workspace.id, {"name": workspace.name, "plan": workspace.plan, "seats": workspace.seats}
        )
        self.analytics.track(user_id, "Signed Up", {"plan": workspace.plan}, context={"groupId": workspace.id})

    def create_report(self, user_id: str, widgets: int) -> None:
        workspace = self.users[user_id]["workspace"]
        self.analytics.track(user_id, "Report Created", {"widgets": widgets}, context={"groupId": workspace.id})

    def view_page(self, user_id: str, name: str) -> None:
        self.analytics.page(user_id, category="app", name=name)

    def upgrade(self, user_id: str, plan: str) -> None:
        workspace = self.users[user_id]["workspace"]
        workspace.plan = plan
        self.analytics.group(user_id, workspace.id, {"plan": plan})
        self.analytics.track(user_id, "Plan Upgraded", {"plan": plan, "groupId": workspace.id})


def make_client(write_key: str, host: str) -> Client:
    """The app's Segment client; in production ``host`` is Segment's API, in tests the fake's URL."""
    return Client(write_key, host=host, sync_mode=True)
