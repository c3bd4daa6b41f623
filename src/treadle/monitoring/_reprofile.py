"""A lineage-found reference follows the model it was found for.

A monitor created without a reference compares traffic with the training data of the model it
watches (``spec.model``, else the deployment's control model: usually ``models:/<m>@champion``).
Once the closed loop promotes a retrained model the alias names another version, trained on other
data, and the old reference would flag the very drift the new model was trained on. So each run
first resolves the model: when it names another version than the reference was profiled for, that
version's training data is found through lineage, profiled with that model and stored, and windows
from then on compare against it (recorded windows stay). Given references are never replaced. When
the new version's training data cannot be found the old reference stays and the run goes on, saying
so on its first window.

The first window evaluated against a new reference says so in its note: the profile keeps the
monitor's cursor at the switch, and the note goes out with the window recorded at that cursor
(the next run's, if this one had no complete window).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import TYPE_CHECKING, Any

from treadle.errors import NotFound, TreadleError
from treadle.monitoring import _reference as ref
from treadle.monitors import Monitor

if TYPE_CHECKING:
    from treadle.monitoring._profile import Profile

log = logging.getLogger(__name__)
_HINT = re.compile(r"[:;] pass reference=.*$")
SWITCH = "reprofiled"  # profile.extra key: {"note", "cursor_ms", "cursor_id"}


def refresh(client: Any, monitor: Monitor, profile: Profile) -> tuple[Monitor, Profile, str | None]:
    """The monitor and the profile a run compares against, and a note for its first window. Never
    raises: a reference that cannot follow the model is kept."""
    info = monitor.reference
    if info is None or info.found_by != "lineage":
        return monitor, profile, pending_note(monitor, profile)
    spec = monitor.spec
    built_for = info.model_version or "an earlier version"
    why = "cannot resolve the model"
    try:
        uri = spec.model or ref.deployment_model(client, spec.deployment)
        current = ref.model_version(client, uri)
        if uri is None or current is None or current == info.model_version:
            return monitor, profile, pending_note(monitor, profile)
        why = f"could not re-profile for {current}"
        monitor, profile = _reprofile(client, monitor, uri, current)
    except Exception as exc:  # a run must go on with the reference it has
        message = exc.message if isinstance(exc, TreadleError) else f"{type(exc).__name__}: {exc}"
        message = _HINT.sub("", message)  # "pass reference=..." is advice for create_monitor, not a run
        if isinstance(exc, NotFound) and why.startswith("could not"):
            why = "found no training data through lineage"
        kept = f"reference kept (built for {built_for}): {why}: {message}"
        log.warning("monitor %s: %s", spec.name, kept)
        return monitor, profile, "; ".join(n for n in (pending_note(monitor, profile), kept) if n)
    log.info("monitor %s: %s", spec.name, profile.extra[SWITCH]["note"])
    return monitor, profile, pending_note(monitor, profile)


def _reprofile(client: Any, monitor: Monitor, uri: str, version: str) -> tuple[Monitor, Profile]:
    """Profile the training data of ``version`` (found through lineage) with that model, store it
    and make it the monitor's reference."""
    from treadle.monitoring._sdk import _check_drift, _profile_reference, reference_info

    spec = monitor.spec
    predictor = ref.load_predictor(client, version)
    signature = ref.signature_columns(predictor) if predictor is not None else None
    needed = list(spec.features or signature or []) + ([spec.target] if spec.target else [])
    found = ref.lineage_reference(client, version, needed)
    prof, used, pred_col = _profile_reference(spec, found, uri, predictor)
    _check_drift(spec.drift, {c: p.kind for c, p in prof.columns.items()})
    note = f"reference re-profiled for {version} (datasets:/{found.dataset}/{found.version})"
    switch = {"note": note, "cursor_ms": monitor.cursor_ms, "cursor_id": monitor.cursor_id}
    prof = dataclasses.replace(prof, extra={**prof.extra, SWITCH: switch})
    stored = client.blobs.put_bytes(prof.to_bytes())
    updated = client.monitors.set_reference(spec.name, reference_info(found, prof, used, pred_col, stored, version))
    return updated, prof


def pending_note(monitor: Monitor, profile: Profile) -> str | None:
    """The switch note while no window has been recorded against the profile (the cursor has not
    moved since it was stored)."""
    switch = profile.extra.get(SWITCH)
    if not isinstance(switch, dict):
        return None
    if (switch.get("cursor_ms"), switch.get("cursor_id")) != (monitor.cursor_ms, monitor.cursor_id):
        return None
    return str(switch.get("note") or "") or None
