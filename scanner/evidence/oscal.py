"""OSCAL: a profile (annex) as an OSCAL catalog, and the helpers the assessment-results reporter
shares with it, so that its findings point at statements of this catalog.

Documents are built with compliance-trestle's pydantic models, generated from NIST's OSCAL JSON
schemas: a document that would not validate fails while it is built, not in an auditor's tool
(Python's jsonschema cannot compile the schemas' \\p{...} regexes).

Ids: OSCAL ids are tokens (a letter or '_' first, then letters, digits, '.', '-', '_'), and a
clause id such as 3DOUEST-11.3-PORTS starts with a digit, so every clause id is mapped to a
lowercase ASCII token (`token`), kept unique per profile, and the original is kept as the
control's `label` and `clause-id` props. Statement ids are `<control-id>_smt`, as in NIST's
catalogs; control ids never contain '_', so the suffix cannot be ambiguous.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from datetime import datetime, timezone
from typing import Iterable

from trestle.oscal import OSCAL_VERSION
from trestle.oscal import catalog as oscal_catalog
from trestle.oscal.common import BackMatter, Citation, Metadata, Part, Property, Resource
from trestle.core.base_model import OscalBaseModel

from scanner import __version__
from scanner.catalog.controls import Catalog, Control
from scanner.errors import ConfigError
from scanner.catalog.profiles import Clause, ControlRef, Profile

NS = "https://annexscan.dev/ns/oscal"  # namespace of annexscan's own props
UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, NS)
_NOT_TOKEN = re.compile(r"[^a-z0-9]*[^a-z0-9.][^a-z0-9]*")  # a separator run ('.' alone is kept)


def stable_uuid(*parts: str) -> str:
    """A version-5 UUID of `parts`: the same inputs give the same UUID in every run."""
    return str(uuid.uuid5(UUID_NAMESPACE, "\x1f".join(parts)))


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def token(text: str, prefix: str) -> str:
    """`text` as a lowercase OSCAL token: accents dropped, separator runs turned into '-',
    `prefix-` put first when it would not start with a letter (3DOUEST-11.3-PORTS ->
    clause-3douest-11.3-ports)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    body = _NOT_TOKEN.sub("-", plain).strip("-.")
    return body if body[:1].isalpha() else f"{prefix}-{body}".rstrip("-")


def control_ids(clause_ids: Iterable[str]) -> dict[str, str]:
    """Clause id -> OSCAL control id; two clauses of one profile may not share a control id."""
    ids: dict[str, str] = {}
    owners: dict[str, str] = {}
    for clause_id in clause_ids:
        control_id = token(clause_id, "clause")
        if owners.setdefault(control_id, clause_id) != clause_id:
            raise ConfigError(f"clauses '{owners[control_id]}' and '{clause_id}' both map to the "
                              f"OSCAL control id '{control_id}': rename one of them")
        ids[clause_id] = control_id
    return ids


def statement_id(control_id: str) -> str:
    return f"{control_id}_smt"


def oneline(text: object) -> str:
    """Whitespace runs to one space: OSCAL titles and prop values are single-line."""
    return " ".join(str(text).split())


def prop(name: str, value: object, ns: str | None = NS) -> Property:
    """A prop in annexscan's namespace (ns=None: an OSCAL-defined prop such as `label`)."""
    return Property(name=name, value=oneline(value), ns=ns)


def moment(text: str, what: str) -> datetime:
    """An ISO 8601 date-time with its time zone (all the result model carries)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        value = None
    if value is None or value.tzinfo is None:
        raise ConfigError(f"{what}: expected an ISO 8601 date-time with a time zone, got {text!r}")
    return value


def metadata(title: str, version: str, last_modified: datetime, **more) -> Metadata:
    return Metadata(title=oneline(title), version=oneline(version), last_modified=last_modified,
                    oscal_version=OSCAL_VERSION, **more)


def serialize(model: OscalBaseModel) -> str:
    """The OSCAL JSON document: the model under its root key ("catalog", ...)."""
    return model.oscal_serialize_json(pretty=True) + "\n"


# ------------------------------------------------------------------------------ catalog export

def profile_catalog(profile: Profile, catalog: Catalog) -> oscal_catalog.Catalog:
    """The profile as an OSCAL catalog: a group per annex section, a control per clause."""
    ids = control_ids(c.id for c in profile.clauses)
    sections: dict[str, tuple[str, list[oscal_catalog.Control]]] = {}
    for clause in profile.clauses:
        group_id = token(f"section {clause.section}", "section")
        title, controls = sections.setdefault(group_id, (oneline(clause.section), []))
        controls.append(_control(clause, ids[clause.id], profile, catalog))
    clashes = set(sections) & set(ids.values())
    if clashes:
        raise ConfigError(f"profile {profile.id}: OSCAL id {sorted(clashes)[0]!r} names both a "
                          "section group and a clause: rename the clause")
    groups = [oscal_catalog.Group2(id=group_id, title=title, controls=controls)
              for group_id, (title, controls) in sections.items()]
    content = [g.model_dump(mode="json", by_alias=True, exclude_none=True) for g in groups]
    version = str(profile.source.get("version") or "unversioned")
    source = _source_resource(profile)
    return oscal_catalog.Catalog(
        # a revised profile is a new document, so a new UUID; the same profile, the same one
        uuid=stable_uuid("catalog", profile.id, digest([profile.title, version, content])),
        metadata=metadata(
            profile.title, version,
            datetime.fromtimestamp(profile.path.stat().st_mtime, timezone.utc),
            props=[prop("profile-id", profile.id), prop("generator", f"annexscan {__version__}")],
            remarks=f"annexscan profile '{profile.id}' as an OSCAL catalog: one control per "
                    "clause, the annex's words as the statement `<control-id>_smt` (the English "
                    "requirement as guidance), how it is "
                    "verified as assessment methods (TEST: annexscan probes; EXAMINE: evidence "
                    "an attestation must rest on)."),
        groups=groups,
        back_matter=BackMatter(resources=[source]) if source else None)


def render_catalog(profile: Profile, catalog: Catalog) -> str:
    return serialize(profile_catalog(profile, catalog))


def _control(clause: Clause, control_id: str, profile: Profile,
             catalog: Catalog) -> oscal_catalog.Control:
    # The statement is the annex's own words; the English paraphrase is guidance beside it.
    parts = [Part(id=statement_id(control_id), name="statement",
                  prose="\n\n".join(clause.quote) or clause.requirement)]
    if clause.quote:
        parts.append(Part(id=f"{control_id}_gdn", name="guidance", prose=clause.requirement))
    tested = [r for r in clause.controls if catalog.get(r.control_id).automated]
    examined = [r for r in clause.controls if not catalog.get(r.control_id).automated]
    if tested:
        parts.append(_method(control_id, "TEST", [_check(r, catalog) for r in tested]))
    if clause.attest or examined:
        parts.append(_method(control_id, "EXAMINE", [clause.attest] * bool(clause.attest)
                             + [_check(r, catalog) for r in examined]))
    return oscal_catalog.Control(
        id=control_id, title=oneline(clause.title),
        props=[prop("label", clause.id, ns=None), prop("clause-id", clause.id),
               prop("profile", profile.id), prop("section", clause.section),
               prop("verification", clause.kind(catalog))],
        parts=parts)


def _method(control_id: str, method: str, objects: list[str]) -> Part:
    """An assessment-method part as in NIST's SP 800-53A catalogs: its method, what it looks at."""
    return Part(id=f"{control_id}_asm-{method.lower()}", name="assessment-method",
                props=[prop("method", method, ns=None)],
                parts=[Part(name="assessment-objects",
                            prose="\n".join(f"- {item}" for item in objects))])


def _check(ref: ControlRef, catalog: Catalog) -> str:
    control: Control = catalog.get(ref.control_id)
    changed = {k: v for k, v in ref.parameters.items() if control.defaults().get(k) != v}
    with_params = f" with {json.dumps(changed, ensure_ascii=False)}" if changed else ""
    advice = (" (advice: hardening the profile adds; it never fails the clause)"
              if not ref.binding else "")
    return (f"annexscan control `{control.id}`{with_params}{advice}: {control.title}; "
            f"passes when {control.pass_means}")


def _source_resource(profile: Profile) -> Resource | None:
    """The contract the annex comes from, cited in back-matter."""
    source = {k: oneline(v) for k, v in profile.source.items() if oneline(v)}
    if not source:
        return None
    citation = ", ".join(source[k] for k in ("issuer", "title", "version", "date") if k in source)
    return Resource(uuid=stable_uuid("source", profile.id, digest(source)),
                    title=source.get("title", f"source of profile {profile.id}"),
                    description="The contract annex this profile transcribes.",
                    props=[prop(token(f"source {k}", "source"), v) for k, v in source.items()],
                    citation=Citation(text=citation or profile.id))
