"""Write ``docs/profiles.md`` from the profile definitions: ``python -m pytest_segpendo.profiles.doc``.

The page is generated, never edited by hand; ``tests/test_profiles.py`` fails when it is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import PROFILES

HEADER = """# Mapping reference

<!-- Generated from the profile definitions by `python -m pytest_segpendo.profiles.doc > docs/profiles.md`.
     Do not edit: tests/test_profiles.py fails when this page and the code disagree. -->

What each reference profile says Pendo should receive for Segment events. A profile's actions are described
the way a Segment destination describes them: a subscription, and field mappings in Segment's mapping-kit
JSON, which a [mapping file](#your-own-mapping-file) can override or extend. Records are defined in
[concepts](index.md#stable-contracts): `visitor`, `account`, `parentAccount` and `track`.

## The contract every profile honours

From Pendo's article "Send Twilio Segment data to Pendo" (`seed/send-segment-data-to-pendo.txt`):

| Segment | Pendo |
|---|---|
| identify: `userId` | Visitor ID |
| identify: `traits` | Visitor metadata |
| group: `groupId` | Account ID |
| group: `traits` | Account metadata |
| track: `event` + `properties` | Track Event (name and event properties) |
| page, screen, alias | nothing: reported as *ignored*, not as errors |

| profile | for |
|---|---|
"""

FOOTER = """
## Your own mapping file

`segpendo expect --mapping FILE` and `expect(..., mapping=...)` take the mappings you configured in Segment,
as JSON:

```json
{
  "profile": "track-api",
  "settings": {"anonymousTracks": "skip"},
  "actions": {
    "trackEvent": {
      "subscribe": "type = \\"track\\" and event != \\"Debug Ping\\"",
      "mapping": {
        "properties": {"@merge": {"objects": [{"@path": "$.properties"}, {"source": "segment"}], "direction": "right"}}
      }
    },
    "pageViews": {
      "kind": "trackEvent",
      "subscribe": "type = \\"page\\"",
      "mapping": {"event": {"@template": "Viewed {{name}}"}}
    }
  }
}
```

- An entry named like one of the profile's actions changes it: `subscribe` replaces its subscription,
  each field of `mapping` replaces that field's mapping (other fields keep their defaults), `"enabled": false`
  turns it off.
- Any other name adds an action: `kind` names the profile action it behaves like, `subscribe` says which
  events it takes, and `mapping` overrides fields of that kind's defaults.
- Subscriptions use Segment's condition language: `type`, `event`, `name`, `userId`, `properties.X`,
  `traits.X`; `=`, `!=`, `<`, `<=`, `>`, `>=`, `contains(field, "x")`, `match(field, "x*")`, `!`, `and`, `or`,
  parentheses. As in Segment, a group without parentheses uses its last `and`/`or` for all its conditions.
- Mappings use every mapping-kit directive except `@liquid`, which is refused with an error naming the field.
"""


def _code(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return "`" + text.replace("|", "\\|") + "`"


def render() -> str:
    out = [HEADER]
    for name, cls in PROFILES.items():
        out.append(f"| [`{name}`](#profile-{name.replace('+', '')}) | {cls.title} |\n")
    for name, cls in PROFILES.items():
        out.append(f"\n## Profile `{name}`\n\n**{cls.title}.** {cls.summary}\n\n")
        out.append("Sources: " + "; ".join(cls.sources) + ".\n\n")
        out.append("### Settings\n\n")
        if cls.settings_spec:
            out.append("| setting | default | meaning |\n|---|---|---|\n")
            for setting, spec in cls.settings_spec.items():
                out.append(f"| `{setting}` | {_code(spec.default)} | {spec.doc} |\n")
        else:
            out.append("None.\n")
        out.append("\n### Actions\n")
        for action in cls.action_specs:
            fixed = "" if action.configurable else " Fixed code in the destination: only `enabled` can be changed."
            out.append(f"\n#### `{action.name}`: {action.title}\n\n")
            out.append(f"Subscription `{action.subscription}`. {action.does}{fixed}\n\n")
            out.append("| field | default mapping | Pendo | source |\n|---|---|---|---|\n")
            for field, field_spec in action.fields.items():
                out.append(f"| `{field}` | {_code(field_spec.mapping)} | {field_spec.target} | {field_spec.source} |\n")
        out.append(f"\n### Ignored\n\n{cls.ignored_note}\n")
        hints = cls.hints
        out.append("\n### Comparing\n\n")
        out.append(f"- recommended view: **{hints.view}**\n")
        tolerance = (
            "ignored (the browser's clock)"
            if hints.timestamp_tolerance_ms is None
            else f"{hints.timestamp_tolerance_ms} ms"
        )
        out.append(f"- track timestamps: {tolerance}\n")
        if hints.ignore_paths:
            out.append("- not compared: " + ", ".join(f"`{p}`" for p in hints.ignore_paths) + "\n")
        if hints.agent_fields:
            out.append("- added by the Pendo agent, allowed: " + ", ".join(f"`{p}`" for p in hints.agent_fields) + "\n")
        if hints.anonymous_id_pattern:
            out.append("- anonymous visitor ids (`_PENDO_T_…`) are matched by pattern\n")
        for note in hints.notes:
            out.append(f"- {note}\n")
    out.append(FOOTER)
    return "".join(out)


def main() -> None:
    text = render()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
