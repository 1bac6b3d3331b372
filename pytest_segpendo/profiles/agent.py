"""A model of the Pendo web agent (``@pendo/agent`` 2.291.4): which records its calls put on the wire.

Established by running the real agent in headless Chromium (65 scenarios; the rules below reproduced 372 of
373 captured wire events) and reading ``dist/pendo.module.js``:

- ids: null, undefined, ``''``, ``'::'``, booleans, objects and whitespace-only strings are not ids; numbers
  become strings; an explicit ``_PENDO_T_x`` is kept as given (``isValidId``);
- ``identify({visitor, account, parentAccount})`` and ``initialize(...)`` (``prepareOptions``): an invalid
  visitor id keeps the current visitor; ``account.id`` missing keeps the current account, an invalid one clears
  it; a valid top-level ``parentAccount.id`` joins the account id to ``parent::child`` unless it already holds
  ``::`` (then the parent id is the part before it); a ``parentAccount`` nested inside ``account`` is an
  ordinary field;
- an ``identify`` event, sent when an anonymous visitor becomes known or the account changes to a new valid
  id, tells Pendo who the visitor (and account) now is: an empty visitor (and account) write;
- a ``meta`` event carries that call's fields only (Pendo merges them), with ``language`` set by the browser,
  and is sent only when the options differ from the last ones sent from this browser (a crc kept in
  localStorage);
- ``track(name, props)`` sends nothing for a missing or empty name; props: undefined -> ``{}``, a
  non-object -> ``{"__err__": value}``; it carries the visitor and account current at the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..mapping.js import UNDEFINED, JsFunction, js_string
from ..records import Record, track_record

TEMP_PREFIX = "_PENDO_T_"
ANONYMOUS_PATTERN = TEMP_PREFIX + "*"  # an id the agent makes up itself: matched by pattern
DEFAULT_VISITOR_ID = "VISITOR-UNIQUE-ID"
DELIMITER = "::"
AGENT_FIELDS = ("language",)  # set by the agent on every visitor: never part of the expectation


def is_valid_id(value: Any) -> bool:
    if value is None or value is UNDEFINED or isinstance(value, (bool, dict, list, JsFunction)):
        return False
    if isinstance(value, str):
        return value != "" and value != DELIMITER and value.strip() != ""
    return isinstance(value, (int, float))


@dataclass
class Agent:
    """One browser: the agent's stored visitor and account (they survive page loads) and the last meta."""

    visitor_id: str | None = None
    account_id: str | None = None
    last_meta: tuple[Any, ...] | None = None

    def current_visitor(self) -> str:
        if self.visitor_id is None:
            self.visitor_id = ANONYMOUS_PATTERN  # the agent makes up `_PENDO_T_` + 11 random characters
        return self.visitor_id

    def _set_account(self, value: Any) -> None:
        if value is UNDEFINED:
            return
        self.account_id = js_string(value) if is_valid_id(value) else None

    def update_options(self, options: Any) -> list[Record]:
        """``identify(options)`` / ``initialize(options)``: the records of the meta event it sends, if any."""
        options = options if type(options) is dict else {}
        visitor = options.get("visitor")
        account = options.get("account")
        parent = options.get("parentAccount")
        visitor = visitor if type(visitor) is dict else {}
        account = account if type(account) is dict else {}
        parent = parent if type(parent) is dict else {}
        vid = visitor.get("id", UNDEFINED)
        if vid == DEFAULT_VISITOR_ID:
            vid = UNDEFINED
        aid, pid = account.get("id", UNDEFINED), parent.get("id", UNDEFINED)
        if is_valid_id(aid) and is_valid_id(pid):
            if DELIMITER not in js_string(aid):
                aid = js_string(pid) + DELIMITER + js_string(aid)
            else:
                pid = js_string(aid).split(DELIMITER)[0]
        old_visitor, old_account = self.visitor_id, self.account_id
        if is_valid_id(vid):
            self.visitor_id = js_string(vid)
        visitor_id = self.current_visitor()  # an invalid id keeps the current visitor
        self._set_account(aid)
        out: list[Record] = []
        # An `identify` event goes first when an anonymous visitor becomes known or the account changes
        # (initIdentityEvents): Pendo learns the visitor (and account) it now is.
        identified = (
            old_visitor is not None and old_visitor.startswith(TEMP_PREFIX) and not visitor_id.startswith(TEMP_PREFIX)
        )
        account_changed = self.account_id is not None and self.account_id != old_account
        if (old_visitor != visitor_id or old_account != self.account_id) and (identified or account_changed):
            out.append({"kind": "visitor", "id": visitor_id, "metadata": {}})
            if self.account_id is not None:
                owner = self.account_id.split(DELIMITER)[0] if DELIMITER in self.account_id else None
                out.append({"kind": "account", "id": self.account_id, "metadata": {}, "parentAccountId": owner})
        metadata = {
            k: v
            for k, v in visitor.items()
            if k != "id" and k not in AGENT_FIELDS and v is not UNDEFINED and type(v) is not JsFunction
        }
        account_meta = {
            k: v for k, v in account.items() if k != "id" and v is not UNDEFINED and type(v) is not JsFunction
        }
        parent_meta = {
            k: v for k, v in parent.items() if k != "id" and v is not UNDEFINED and type(v) is not JsFunction
        }
        parent_id = js_string(pid) if is_valid_id(pid) else None
        sent = (visitor_id, metadata, self.account_id, account_meta, parent_id, parent_meta)
        if sent == self.last_meta:
            return out
        self.last_meta = sent
        out.append({"kind": "visitor", "id": visitor_id, "metadata": metadata})
        account_id = self.account_id
        if account_id is not None:
            owner = parent_id
            if owner is None and DELIMITER in account_id:
                owner = account_id.split(DELIMITER)[0]
            out.append({"kind": "account", "id": account_id, "metadata": account_meta, "parentAccountId": owner})
        if parent_id is not None:
            out.append({"kind": "parentAccount", "id": parent_id, "metadata": parent_meta})
        return out

    def track(self, name: Any, props: Any, timestamp: int | None) -> Record | None:
        """``pendo.track(name, props)``; None when the agent sends nothing."""
        if not isinstance(name, str) or name == "":
            return None
        if props is UNDEFINED:
            properties: Any = {}
        elif isinstance(props, (dict, list)):
            properties = props  # action payloads hold JSON data already
        else:
            properties = {"__err__": props}
        return track_record(name, self.current_visitor(), self.account_id, timestamp, properties, {})
