"""The waiting room of a first-come opening (issue 21): when more parents arrive than the servers
serve within the latency target, the booking pages and the booking API let them in at a configured
rate, in the order they arrived; the others wait on a French page (or a 429 answer) that gives
their position and an estimated wait.

Settings (config.py, README « Production »):
- WAITING_ROOM: "off" (default: nobody is ever queued), "on" (in force now), or "auto" (in force
  from WAITING_ROOM_LEAD_MINUTES before a period's registration opening to
  WAITING_ROOM_SPAN_MINUTES after it).
- WAITING_ROOM_RATE: admissions per second (what the workers serve within the target);
  WAITING_ROOM_BURST: how many may go straight in after a quiet spell (default: one second's worth).
- WAITING_ROOM_ADMITTED_MINUTES: once admitted, a parent is not queued again for that long.

How: the state lives in the app's Redis (app/services/tasks.py; fakeredis in the embedded
default). ONE Lua script per arrival or check, atomic, so every worker sees one queue:
- a token bucket refilled at RATE (capped at BURST) releases waiting positions strictly in order
  (`released` is the highest admitted position: position n gets in only after n-1);
- an arrival with a token to spare and nobody ahead goes straight in; otherwise it takes the next
  position (`seq`), kept per user, so a second tab or the API share the same place;
- the admitted are remembered per user for WAITING_ROOM_ADMITTED_MINUTES, so a parent let in on
  the pages is let in on the API too (and the other way round) without a second wait;
- the arrival times of the waiting positions are kept in a list, head first (staff's screen).

The parent holds a ticket signed with the app's SECRET_KEY (itsdangerous): while waiting it names
the user, the queue's generation and the position; once admitted it is a pass that lets the user
in without asking Redis until it expires. A forged, expired or someone else's ticket is ignored:
the parent simply takes (or keeps) a place in the queue — never an error. When Redis cannot be
reached, the room lets everyone in (logged): an outage must not lock families out.
"""
from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from app.models import Period, db
from app.services import tasks

log = logging.getLogger(__name__)

OFF, ON, AUTO = "off", "on", "auto"
MODES = (OFF, ON, AUTO)
_SALT = "portail-waiting-room"
_KEY = "portail:salle"
# The room's keys vanish this long after the last arrival or check (the rush is over).
_IDLE_TTL_SECONDS = 6 * 3600
# Admissions are counted in buckets of this many seconds for staff's « admis par minute ».
_BUCKET_SECONDS = 10
# A waiting ticket older than this is stale (a tab left open overnight): the parent queues again.
_TICKET_MAX_AGE_SECONDS = 12 * 3600
# When the queue page asks again, in seconds: when the parent's turn is due (the bucket releases
# positions at the rate whether or not those ahead come back, so the estimate is exact while the rate
# holds), at least every MAX so the position shown stays fresh, never sooner than MIN.
MIN_REFRESH_SECONDS, MAX_REFRESH_SECONDS = 2, 30

# KEYS: 1 state hash, 2 user -> position hash (the waiting), 3 arrival times of the waiting (head
#       first), 4 this bucket's admissions counter, 5 user -> "admitted at,position" (the admitted).
# ARGV: 1 now (s), 2 rate (/s), 3 burst, 4 user id ("" for a peek), 5 ticket position ("" if none),
#       6 ticket generation, 7 a new generation (used if the queue does not exist), 8 idle TTL (s),
#       9 bucket TTL (s), 10 how long the admitted are let in again (s).
# Returns {generation, position (0 for a peek), released, seq, tokens (string), head arrival ("" if none)}.
_SCRIPT = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'gen', 'seq', 'released', 'tokens', 'ts')
local gen, seq, released, tokens, ts = state[1], 0, 0, burst, now
if gen then
  seq = tonumber(state[2]); released = tonumber(state[3]); tokens = tonumber(state[4]); ts = tonumber(state[5])
else
  gen = ARGV[7]
end
local elapsed = now - ts
if elapsed > 0 then
  tokens = tokens + elapsed * rate
  ts = now
end
-- Whoever waits uses the whole time gone by; only unused capacity is capped at the burst.
local admitted = 0
local ready = math.min(math.floor(tokens), seq - released)
if ready > 0 then
  released = released + ready
  tokens = tokens - ready
  admitted = ready
  redis.call('LTRIM', KEYS[3], ready, -1)
end
tokens = math.min(burst, tokens)
local position = 0
local user = ARGV[4]
if user ~= '' then
  -- Admitted a moment ago (through the pages or the API, whatever ticket this request holds)?
  local recent, seen_n = false, nil
  local seen = redis.call('HGET', KEYS[5], user)
  if seen then
    local seen_at
    seen_at, seen_n = string.match(seen, '^([^,]+),(%d+)$')
    recent = seen_at ~= nil and now - tonumber(seen_at) <= tonumber(ARGV[10]) and tonumber(seen_n) <= released
  end
  local ticket = tonumber(ARGV[5])
  if ticket and ARGV[6] == gen and ticket >= 1 and ticket <= seq then
    position = ticket
  else
    position = tonumber(redis.call('HGET', KEYS[2], user)) or 0
  end
  if position == 0 and recent then
    position = tonumber(seen_n)
  end
  if position == 0 then
    seq = seq + 1
    position = seq
    if position == released + 1 and tokens >= 1 then
      released = position
      tokens = tokens - 1
      admitted = admitted + 1
    else
      redis.call('HSET', KEYS[2], user, position)
      redis.call('RPUSH', KEYS[3], ARGV[1])
    end
  end
  if position <= released then
    redis.call('HDEL', KEYS[2], user)
    if not recent then
      redis.call('HSET', KEYS[5], user, ARGV[1] .. ',' .. position)
    end
  end
end
if admitted > 0 then
  redis.call('INCRBY', KEYS[4], admitted)
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[9]))
end
redis.call('HSET', KEYS[1], 'gen', gen, 'seq', seq, 'released', released,
           'tokens', tostring(tokens), 'ts', tostring(ts))
local ttl = tonumber(ARGV[8])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('EXPIRE', KEYS[5], ttl)
local head = redis.call('LINDEX', KEYS[3], 0)
return {gen, position, released, seq, tostring(tokens), head or ''}
"""


def clock() -> float:
    """Seconds since the epoch (tests move it)."""
    return time.time()


# --- settings --------------------------------------------------------------------------------

def mode() -> str:
    value = str(current_app.config.get("WAITING_ROOM") or OFF).strip().lower()
    return value if value in MODES else OFF


def rate() -> float:
    return max(0.1, float(current_app.config.get("WAITING_ROOM_RATE") or 20))


def burst() -> float:
    value = current_app.config.get("WAITING_ROOM_BURST")
    return max(1.0, float(value) if value else rate())


def admitted_seconds() -> int:
    return max(60, int(float(current_app.config.get("WAITING_ROOM_ADMITTED_MINUTES") or 20) * 60))


class _Openings:
    """Per process: the registration openings near now, re-read at most once a minute (staff's
    catalogue edits reach the room within that minute)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.read_at = -math.inf
        self.openings: list[datetime] = []

    def near(self, now: datetime, lead: timedelta, span: timedelta) -> bool:
        with self.lock:
            if time.monotonic() - self.read_at > 60:
                rows = db.session.execute(select(Period.opens_at).where(
                    Period.opens_at >= now - span - timedelta(days=1),
                    Period.opens_at <= now + lead + timedelta(days=1))).scalars().all()
                self.openings = [_aware(opens_at) for opens_at in rows]
                self.read_at = time.monotonic()
            openings = self.openings
        return any(opens_at - lead <= now <= opens_at + span for opens_at in openings)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def in_force() -> bool:
    """Whether the booking pages and API go through the room right now."""
    current = mode()
    if current == ON:
        return True
    if current != AUTO:
        return False
    openings = current_app.extensions.get("portail_waiting_room_openings")
    if openings is None:
        openings = current_app.extensions.setdefault("portail_waiting_room_openings", _Openings())
    config = current_app.config
    lead = timedelta(minutes=float(config.get("WAITING_ROOM_LEAD_MINUTES") or 5))
    span = timedelta(minutes=float(config.get("WAITING_ROOM_SPAN_MINUTES") or 30))
    return openings.near(datetime.fromtimestamp(clock(), timezone.utc), lead, span)


# --- tickets ---------------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _pass_token(user_id: int, position: int = 0) -> str:
    """A pass: admitted at `at`, with its queue position `n` (0: unknown), which the bench reads to
    check that admission followed arrival."""
    return _serializer().dumps({"u": user_id, "ok": 1, "at": int(clock()), "n": position})


def _wait_token(user_id: int, generation: str, position: int) -> str:
    return _serializer().dumps({"u": user_id, "g": generation, "n": position})


def _read(token: str | None, user_id: int) -> dict | None:
    """The ticket's content if it is ours, unexpired and this user's; else None (never raises)."""
    if not token or len(token) > 512:
        return None
    try:
        data = _serializer().loads(token, max_age=_TICKET_MAX_AGE_SECONDS)
    except BadSignature:  # forged, altered or expired (SignatureExpired is a BadSignature)
        return None
    except Exception:  # noqa: BLE001 - whatever a hand-made token throws at the decoder
        return None
    if not isinstance(data, dict) or data.get("u") != user_id:
        return None
    if data.get("ok") == 1 and isinstance(data.get("at"), int):
        age = clock() - data["at"]
        # The pass has run out (the parent queues again), or it is dated in the future.
        return data if -60 <= age <= admitted_seconds() else None
    if isinstance(data.get("g"), str) and isinstance(data.get("n"), int):
        return data
    return None


def holds_ticket(user_id: int, token: str | None) -> bool:
    """Whether `token` is a valid ticket or pass of this user (it proves they queued as a parent)."""
    return _read(token, user_id) is not None


# --- the room --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """The room's answer for one request. `token` is the ticket the parent should hold next (None:
    keep the one sent)."""

    admitted: bool
    token: str | None = None
    position: int = 0  # 1 = next to go in
    wait_seconds: int = 0

    @property
    def refresh_seconds(self) -> int:
        """Come back when the turn is due: a queue polled more often only takes workers from the admitted."""
        return max(MIN_REFRESH_SECONDS, min(MAX_REFRESH_SECONDS, self.wait_seconds))


@dataclass(frozen=True)
class Status:
    """What staff see: the room's mode, whether it is in force, the queue."""

    mode: str
    in_force: bool
    rate: float
    waiting: int
    arrivals: int
    admitted_last_minute: int
    head_arrived_at: datetime | None
    reachable: bool = True


def _keys(now: float) -> list[str]:
    bucket = int(now // _BUCKET_SECONDS)
    return [f"{_KEY}:etat", f"{_KEY}:parents", f"{_KEY}:arrivees", f"{_KEY}:admis:{bucket}", f"{_KEY}:entres"]


def _run(user_id: int | None, ticket: dict | None, now: float):
    connection = tasks.state().connection
    script = connection.register_script(_SCRIPT)
    args = [repr(now), repr(rate()), repr(burst()), "" if user_id is None else str(user_id),
            str(ticket["n"]) if ticket else "", ticket["g"] if ticket else "", secrets.token_hex(6),
            _IDLE_TTL_SECONDS, _BUCKET_SECONDS * 7, admitted_seconds()]
    generation, position, released, seq, tokens, head = script(keys=_keys(now), args=args)
    return (generation.decode() if isinstance(generation, bytes) else generation, int(position), int(released),
            int(seq), float(tokens), float(head) if head not in (b"", "", None) else None)


def enter(user_id: int, token: str | None) -> Decision:
    """One request of `user_id` holding `token` (None: none) at a guarded door: admitted, or its
    place in the queue. Call only while `in_force()`."""
    ticket = _read(token, user_id)
    if ticket is not None and ticket.get("ok") == 1:
        return Decision(admitted=True)  # a pass: no Redis at all
    now = clock()
    try:
        generation, position, released, _seq, tokens, _head = _run(user_id, ticket, now)
    except Exception as exc:  # noqa: BLE001 - any Redis or script failure: let the parent in
        log.warning("waiting room unavailable, letting user %s in: %s", user_id, exc.__class__.__name__)
        return Decision(admitted=True)
    if position <= released:
        return Decision(admitted=True, token=_pass_token(user_id, position))
    ahead = position - released  # 1 = next
    wait = max(1, math.ceil((ahead - tokens) / rate()))
    return Decision(admitted=False, token=_wait_token(user_id, generation, position), position=ahead,
                    wait_seconds=wait)


def status() -> Status:
    """The queue as it stands (releasing whoever's turn has come, as any check does)."""
    now = clock()
    current_mode, forced = mode(), in_force()
    try:
        _generation, _position, released, seq, _tokens, head = _run(None, None, now)
        connection = tasks.state().connection
        bucket = int(now // _BUCKET_SECONDS)
        counts = connection.mget([f"{_KEY}:admis:{b}" for b in range(bucket - 5, bucket + 1)])
    except Exception as exc:  # noqa: BLE001
        log.warning("waiting room unavailable for its status: %s", exc.__class__.__name__)
        return Status(current_mode, forced, rate(), 0, 0, 0, None, reachable=False)
    admitted = sum(int(c) for c in counts if c is not None)
    return Status(current_mode, forced, rate(), seq - released, seq, admitted,
                  datetime.fromtimestamp(head, timezone.utc) if head is not None else None)


def wait_text(seconds: int) -> str:
    """« moins d'une minute », « environ 3 minutes », « environ 1 h 05 »."""
    if seconds < 60:
        return _("moins d'une minute")
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return ngettext("environ %(num)d minute", "environ %(num)d minutes", minutes)
    return _("environ %(hours)d h %(minutes)02d", hours=minutes // 60, minutes=minutes % 60)


def families_ahead(position: int) -> str:
    """« 1 famille avant vous », « 3 familles avant vous » for a queue `position` (1: next to go in,
    nobody ahead). The queue page and the API's message both say it this way."""
    ahead = max(0, position - 1)
    return ngettext("%(num)d famille avant vous", "%(num)d familles avant vous", ahead)


def queue_message(decision: Decision) -> str:
    """The French message of a parent kept waiting (the API's 429): who is ahead, the estimated
    wait, and that their place is kept."""
    if decision.position <= 1:
        first = _("Beaucoup de familles s'inscrivent en ce moment : vous êtes la prochaine à entrer.")
    else:
        first = _("Beaucoup de familles s'inscrivent en ce moment : %(ahead)s.",
                  ahead=families_ahead(decision.position))
    return first + " " + _("Attente estimée : %(wait)s. Votre place est gardée : réessayez avec votre ticket.",
                           wait=wait_text(decision.wait_seconds))
