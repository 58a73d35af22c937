"""Identity from a modality worklist or a PACS: printscp asks as a C-FIND SCU (issue 16).

`worklist` asks a Modality Worklist SCP (PS3.4 K.6) for the procedure steps scheduled on the calling modality
(Scheduled Station AE Title = the print's Calling AE Title) on the days the time window touches, and keeps
those whose scheduled start lies within the window around the print. `pacs` asks a PACS (Study Root, PS3.4
C.6.2) for the series a modality (Station Name) made within the window, and then, study by study, for the
patient of each study found. Both return the distinct identities found, unconfirmed: the caller confirms one
when it is the only one, and flags several for review.

Neither ever raises. A node that is absent, cannot be reached, rejects us, does not answer in time or
answers a failure gives [] and one WARNING line saying why (a print must not fail because a worklist is
down). Answers are not trusted: each value is decoded by pydicom with the answer's Specific Character Set,
stripped of control characters, cut to its VR's length (PS3.5 6.2), and dropped when it is not a valid
DA/CS/UI; an element that does not decode (a wrong VR, say) counts as empty. Entries outside the window or for
another station are dropped here too, whatever the peer's matching did.

Times: worklist and image times carry no time zone; they are compared with `printed_at` in local time (an
aware `printed_at` is converted to local time first, a naive one is taken as local).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import ssl
import time
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import PersonName
from pynetdicom import AE, evt
from pynetdicom.association import Association

from printscp.config import Node
from printscp.identity.model import Identity, Source, patient
from printscp.net import association_log, compat
from printscp.net import tls as dicom_tls

log = logging.getLogger(__name__)

MODALITY_WORKLIST_FIND = UID("1.2.840.10008.5.1.4.31")  # Modality Worklist Information Model - FIND
STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")  # Study Root Query/Retrieve Information Model - FIND

MAX_ANSWERS = 1000  # more pending answers than this to one query: the query is useless (and the peer odd)
MAX_STUDIES = 10  # studies of the PACS window followed up with a STUDY-level query, newest first

# PS3.5 6.2: the most characters a value of each VR may have (PN: per component group)
_LENGTHS = {"PN": 64, "LO": 64, "SH": 16, "CS": 16, "DA": 8, "UI": 64, "AE": 16}
# Identity field -> (keyword, VR)
_FIELDS = {
    "patient_name": ("PatientName", "PN"),
    "patient_id": ("PatientID", "LO"),
    "patient_birth_date": ("PatientBirthDate", "DA"),
    "patient_sex": ("PatientSex", "CS"),
    "accession_number": ("AccessionNumber", "SH"),
    "study_instance_uid": ("StudyInstanceUID", "UI"),
}
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")  # PS3.5 9.1
_TM = re.compile(r"([0-9]{2})([0-9]{2})?([0-9]{2})?(\.[0-9]{1,6})?")  # PS3.5 6.2 TM
_SEXES = frozenset({"M", "F", "O"})  # PS3.3 C.7.1.1 Patient's Sex


def worklist(
    node: Node | None,
    node_ae_title: str,
    our_ae_title: str,
    calling_ae_title: str,
    printed_at: datetime,
    window_minutes: float,
    tls: ssl.SSLContext | None = None,
    timeout: float = 10.0,
) -> list[Identity]:
    """The identities of the procedure steps scheduled on `calling_ae_title` within `window_minutes` of
    `printed_at`, asked of the worklist SCP `node_ae_title` at `node`; one per distinct (Patient ID, Accession
    Number, Study Instance UID), the closest scheduled start first, source "worklist", unconfirmed.

    The query (PS3.4 K.6.1.2): a Scheduled Procedure Step Sequence item with Scheduled Station AE Title =
    `calling_ae_title`, Scheduled Procedure Step Start Date = the day(s) of the window (a range when it spans
    midnight), Start Time and Modality asked for; Patient's Name, Patient ID, Birth Date, Sex, Accession
    Number, Study Instance UID and Requested Procedure ID asked for. A step without a start time counts when
    its date is a day of the window; one without a valid start date does not count. [] and one warning when
    the worklist cannot be asked; `timeout` bounds each network wait and the whole query.
    """
    moment = _local(printed_at)
    window = timedelta(minutes=max(0.0, window_minutes))
    earliest, latest = moment - window, moment + window
    step = Dataset()
    step.ScheduledStationAETitle = calling_ae_title.strip()
    step.ScheduledProcedureStepStartDate = _date_range(earliest.date(), latest.date())
    step.ScheduledProcedureStepStartTime = ""
    step.Modality = ""
    query = Dataset()
    for keyword in (*_keywords(), "RequestedProcedureID"):
        setattr(query, keyword, "")
    query.ScheduledProcedureStepSequence = [step]

    what = f"worklist {node_ae_title}"
    with _Peer(what, node, node_ae_title, our_ae_title, (MODALITY_WORKLIST_FIND,), tls, timeout) as peer:
        answers = peer.find(query, MODALITY_WORKLIST_FIND)
    if answers is None:
        return []
    found: list[tuple[timedelta, Identity]] = []
    for answer in answers:
        distance = _scheduled_distance(answer, calling_ae_title.strip(), moment, earliest, latest)
        if distance is None:
            continue
        identity = _identity(answer, "worklist")
        if identity.known:
            found.append((distance, identity))
    found.sort(key=lambda pair: pair[0])  # stable: the worklist's order among equals
    identities = _distinct(identity for _, identity in found)
    log.debug("%s: %d answer(s), %d identity(ies) in the window", what, len(answers), len(identities))
    return identities


def pacs(
    node: Node | None,
    node_ae_title: str,
    our_ae_title: str,
    station: str,
    printed_at: datetime,
    window_minutes: float,
    tls: ssl.SSLContext | None = None,
    timeout: float = 10.0,
) -> list[Identity]:
    """The studies that the modality called `station` (its Station Name) made series of within
    `window_minutes` of `printed_at`, asked of the PACS `node_ae_title` at `node`: the distinct studies found
    in the window, newest series first (at most MAX_STUDIES), each with its patient; source "pacs",
    unconfirmed. One study is "the study most recently sent by the same modality"; several are for review.

    Two steps on one association (Study Root, PS3.4 C.6.2): a SERIES-level C-FIND with Station Name =
    `station` and Series Date = the day(s) of the window, asking Study and Series Instance UID, Series Date
    and Time; the series are checked against the window and the station here. Then a STUDY-level C-FIND per
    study found (Study Instance UID) for Patient's Name, ID, Birth Date, Sex and Accession Number.

    Many PACS do not match Station Name, or even Series Date, at SERIES level (DCMTK's dcmqrscp ignores both
    and returns neither); a series whose answer lacks Station Name or Series Date cannot be tied to the
    modality and the window, so such a PACS gives [] with a warning saying so. A modality worklist is the
    better source where there is one. [] and one warning when the PACS cannot be asked; `timeout` bounds each
    network wait and the whole exchange.
    """
    moment = _local(printed_at)
    window = timedelta(minutes=max(0.0, window_minutes))
    earliest, latest = moment - window, moment + window
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StationName = station.strip()
    query.SeriesDate = _date_range(earliest.date(), latest.date())
    query.SeriesTime = ""
    query.StudyInstanceUID = ""
    query.SeriesInstanceUID = ""

    what = f"PACS {node_ae_title}"
    with _Peer(what, node, node_ae_title, our_ae_title, (STUDY_ROOT_FIND,), tls, timeout) as peer:
        series = peer.find(query, STUDY_ROOT_FIND)
        if series is None:
            return []
        studies = _studies_in_window(what, series, station.strip(), earliest, latest)
        identities = []
        for study_uid in studies[:MAX_STUDIES]:
            identity = _study(peer, study_uid)
            if identity is None:
                return []  # the peer failed (said once); an incomplete list would make one study look single
            if identity.known:
                identities.append(identity)
    log.debug("%s: %d series answer(s), %d study(ies) in the window", what, len(series), len(identities))
    return _distinct(identities)


def study(
    node: Node | None,
    node_ae_title: str,
    our_ae_title: str,
    study_instance_uid: str,
    tls: ssl.SSLContext | None = None,
    timeout: float = 10.0,
) -> Identity | None:
    """The patient of one study, asked of the PACS `node_ae_title` with a STUDY-level C-FIND (Study Root) by
    Study Instance UID: source "pacs", unconfirmed. None when the PACS does not know the study, or cannot be
    asked (one warning then). `pacs` uses the same query for each study it finds."""
    with _Peer(f"PACS {node_ae_title}", node, node_ae_title, our_ae_title, (STUDY_ROOT_FIND,), tls, timeout) as peer:
        identity = _study(peer, study_instance_uid)
    return identity if identity is not None and identity.known else None


# --- one association, its failures said once ---------------------------------------------------------------


class _Peer:
    """An association to a query SCP for the length of a `with`; `find` gives a query's pending answers, or
    None once anything failed (then the warning is logged, once, and every later `find` is None too)."""

    def __init__(
        self,
        what: str,
        node: Node | None,
        ae_title: str,
        our_ae_title: str,
        models: Iterable[UID],
        context: ssl.SSLContext | None,
        timeout: float,
    ) -> None:
        self.what, self.node, self.ae_title, self.our_ae_title = what, node, ae_title, our_ae_title
        self.models, self.context = tuple(models), context
        self.timeout = max(0.1, timeout)
        self.deadline = time.monotonic() + self.timeout
        self.assoc: Association | None = None
        self.failed = False

    def __enter__(self) -> _Peer:
        if self.node is None:
            self._fail("no such node is configured")
            return self
        try:
            ae = AE(self.our_ae_title)
            association_log.expect_failures(ae)  # we say why once; pynetdicom's transport errors -> DEBUG
            for model in self.models:
                ae.add_requested_context(model)
            ae.connection_timeout = ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
            connected: list[bool] = []  # pynetdicom reports a refused connection as an aborted association
            assoc = ae.associate(
                self.node.host,
                self.node.port,
                ae_title=self.ae_title,
                evt_handlers=[(evt.EVT_CONN_OPEN, lambda _: connected.append(True))],
                tls_args=dicom_tls.tls_args(self.node, self.context),
            )
        except Exception as exc:  # a malformed AE title or address, an SSL context that cannot wrap ...
            log.debug("%s: associate raised", self.what, exc_info=True)
            self._fail(f"cannot associate: {exc}")
            return self
        if not assoc.is_established:
            self._fail(_why_not(assoc) if connected else "cannot connect")
            return self
        compat.set_tcp_nodelay(assoc)
        self.assoc = assoc
        return self

    def __exit__(self, *exc: object) -> None:
        assoc, self.assoc = self.assoc, None
        if assoc is not None and assoc.is_established:
            try:
                assoc.release()
            except Exception:  # the answers are in; a peer that fumbles the release changes nothing
                log.debug("%s: release failed", self.what, exc_info=True)

    def find(self, query: Dataset, model: UID) -> list[Dataset] | None:
        """The identifiers of the pending answers to `query`, once the peer said success; None on failure."""
        if self.failed or self.assoc is None:
            return None
        answers: list[Dataset] = []
        try:
            for status, identifier in self.assoc.send_c_find(query, model):
                code = status.get("Status")
                if code is None:
                    self._abort("no answer (timeout or the association was aborted)")
                    return None
                if code in (0xFF00, 0xFF01):  # PS3.4 C.4.1.1.4 / K.4.1.1.4 pending
                    if identifier is None:  # pynetdicom could not decode it: dropping it could make 2 matches 1
                        self._abort("an answer that cannot be decoded")
                        return None
                    answers.append(identifier)
                    if len(answers) > MAX_ANSWERS:
                        self._abort(f"more than {MAX_ANSWERS} answers")
                        return None
                    if time.monotonic() > self.deadline:
                        self._abort(f"no complete answer within {self.timeout:g} s")
                        return None
                    continue
                if code == 0x0000:
                    return answers
                # Anything else ends the query: failure, cancel, or a warning such as a matching limit. The
                # answers may be incomplete, and an incomplete list could make one of several look single.
                comment = str(status.get("ErrorComment", "") or "")[:64]
                self._fail(f"status 0x{code:04X}" + (f" ({_clean(comment)})" if comment else ""))
                return None
        except Exception as exc:  # pynetdicom refusing our own query, a peer that breaks the protocol ...
            log.debug("%s: C-FIND raised", self.what, exc_info=True)
            self._abort(f"C-FIND failed: {exc}")
            return None
        self._abort("the answers ended without a final status")
        return None

    def _abort(self, why: str) -> None:
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.abort()
        self._fail(why)

    def _fail(self, why: str) -> None:
        if not self.failed:
            self.failed = True
            where = f" at {self.node.host}:{self.node.port}" if self.node is not None else ""
            log.warning("%s%s cannot be asked (%s): no identity from it", self.what, where, why)


def _why_not(assoc: Association) -> str:
    """Why an association request did not end in an association, in a few words."""
    if assoc.is_rejected:
        rejection = compat.rejection(assoc)
        if rejection is None:
            return "association rejected"
        return "association rejected: " + association_log.rejection_in_words(*rejection)
    if assoc.is_aborted:
        return "association aborted"
    return "cannot connect"


# --- the PACS steps ----------------------------------------------------------------------------------------


def _studies_in_window(
    what: str, series: list[Dataset], station: str, earliest: datetime, latest: datetime
) -> list[str]:
    """The Study Instance UIDs of the series made by `station` within [earliest, latest], newest first."""
    newest: dict[str, datetime] = {}
    without_station = without_date = 0
    for answer in series:
        stations = _values(answer, "StationName", "SH")
        if stations is None:
            without_station += 1
            continue
        if station.upper() not in {value.upper() for value in stations}:
            continue
        when = _when(answer, "SeriesDate", "SeriesTime", earliest, latest)
        if when is None:
            without_date += "SeriesDate" not in answer
            continue
        made = when[0]
        study_uid = _text(answer, "StudyInstanceUID", "UI")
        if study_uid and made > newest.get(study_uid, datetime.min):
            newest[study_uid] = made
    if series and not newest and (without_station or without_date):
        missing = "Station Name" if without_station else "Series Date"
        log.warning(
            "%s returns no %s at SERIES level, so its series cannot be tied to the modality and the time: "
            "no identity from it (a modality worklist is the better source)",
            what,
            missing,
        )
    return sorted(newest, key=lambda uid: newest[uid], reverse=True)


def _study(peer: _Peer, study_uid: str) -> Identity | None:
    """The patient of one study (STUDY-level C-FIND); an unknown Identity when the PACS does not know it, None
    when the peer failed."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    for keyword in _keywords():
        setattr(query, keyword, "")
    query.StudyInstanceUID = study_uid
    answers = peer.find(query, STUDY_ROOT_FIND)
    if answers is None:
        return None
    for answer in answers:
        identity = _identity(answer, "pacs")
        if identity.study_instance_uid in (study_uid, ""):  # the one asked for (or a PACS that does not say)
            return dataclasses.replace(identity, study_instance_uid=study_uid)
    return Identity()


# --- reading answers that may be hostile -------------------------------------------------------------------


def _scheduled_distance(
    answer: Dataset, station: str, moment: datetime, earliest: datetime, latest: datetime
) -> timedelta | None:
    """How far from `moment` the answer's procedure step scheduled on `station` starts, if one starts within
    [earliest, latest] (a step without a start time: half a day, so timed ones come first); None if none does."""
    try:
        steps = list(answer.get("ScheduledProcedureStepSequence") or [])
    except Exception:
        return None
    best: timedelta | None = None
    for step in steps:
        if not isinstance(step, Dataset):
            continue
        stations = _values(step, "ScheduledStationAETitle", "AE")
        if stations is not None and station not in stations:
            continue  # the key is absent: the SCP matched it (PS3.4 C.2.2.1.1 return keys are always returned)
        when = _when(step, "ScheduledProcedureStepStartDate", "ScheduledProcedureStepStartTime", earliest, latest)
        if when is None:
            continue
        start, timed = when
        distance = abs(start - moment) if timed else timedelta(hours=12)
        best = distance if best is None else min(best, distance)
    return best


def _when(
    ds: Dataset, date_keyword: str, time_keyword: str, earliest: datetime, latest: datetime
) -> tuple[datetime, bool] | None:
    """The date and time of `ds`, and whether it had a time, if within [earliest, latest]; a date without a
    valid time counts when it is one of the window's days (and is then taken as that day's midnight)."""
    day = _parse_date(_text(ds, date_keyword, "DA"))
    if day is None:
        return None
    clock = _parse_time(_text(ds, time_keyword, "TM"))
    if clock is None:
        midnight = datetime(day.year, day.month, day.day)
        return (midnight, False) if earliest.date() <= day <= latest.date() else None
    moment = datetime(day.year, day.month, day.day, *clock)
    return (moment, True) if earliest <= moment <= latest else None


def _identity(answer: Dataset, source: Source) -> Identity:
    values = {field: _text(answer, keyword, vr) for field, (keyword, vr) in _FIELDS.items()}
    if _parse_date(values["patient_birth_date"]) is None:
        values["patient_birth_date"] = ""
    if values["patient_sex"].upper() not in _SEXES:
        values["patient_sex"] = ""
    values["patient_sex"] = values["patient_sex"].upper()
    if not _UID.fullmatch(values["study_instance_uid"]):
        values["study_instance_uid"] = ""
    return dataclasses.replace(patient(values), source=source)


def _distinct(identities: Iterable[Identity]) -> list[Identity]:
    """The first of each (Patient ID, Accession Number, Study Instance UID), in order."""
    seen: dict[tuple[str, str, str], Identity] = {}
    for identity in identities:
        seen.setdefault((identity.patient_id, identity.accession_number, identity.study_instance_uid), identity)
    return list(seen.values())


def _values(ds: Dataset, keyword: str, vr: str) -> list[str] | None:
    """Every value of `keyword`, cleaned; None when the element is absent."""
    if keyword not in ds:
        return None
    try:
        value = ds[keyword].value
    except Exception:
        return []
    items = list(value) if isinstance(value, (MultiValue, list, tuple)) else [value]
    return [_clean(str(item), vr) for item in items[:16] if isinstance(item, (str, int, float, PersonName))]


def _text(ds: Dataset, keyword: str, vr: str) -> str:
    """The first value of `keyword` as clean text of at most its VR's length; "" when absent or undecodable."""
    values = _values(ds, keyword, vr)
    return values[0] if values else ""


def _clean(text: str, vr: str = "LO") -> str:
    """`text` without control characters or surrounding spaces, cut to the length of `vr`."""
    text = "".join(ch for ch in text[:4096] if unicodedata.category(ch) != "Cc").strip()
    if vr == "PN":  # up to three component groups (alphabetic=ideographic=phonetic), 64 characters each
        return "=".join(group[:64].strip() for group in text.split("=")[:3]).rstrip("=")
    return text[: _LENGTHS.get(vr, 64)].strip()


def _parse_date(text: str) -> date | None:
    text = text.replace(".", "") if len(text) == 10 else text  # ACR-NEMA YYYY.MM.DD
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _parse_time(text: str) -> tuple[int, int, int] | None:
    """(hour, minute, second) of a TM value (HH, HHMM, HHMMSS, with fractions; ACR-NEMA HH:MM:SS too)."""
    match = _TM.fullmatch(text.replace(":", ""))
    if match is None:
        return None
    hour, minute, second = (int(part) if part else 0 for part in match.group(1, 2, 3))
    if hour > 23 or minute > 59 or second > 60:
        return None
    return hour, minute, min(second, 59)  # a leap second: the second before


def _local(moment: datetime) -> datetime:
    """`moment` as naive local time (worklists and images carry local times without a zone)."""
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo is not None else moment


def _date_range(first: date, last: date) -> str:
    """A DA key for the days first..last: one date, or a range (PS3.4 C.2.2.2.5)."""
    if first == last:
        return first.strftime("%Y%m%d")
    return f"{first.strftime('%Y%m%d')}-{last.strftime('%Y%m%d')}"


def _keywords() -> list[str]:
    return [keyword for keyword, _ in _FIELDS.values()]
