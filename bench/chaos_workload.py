"""The chaos run's workload, drawn from the seed before anything runs, so a fault-free run replays it.

Three kinds of action, on a timeline of offsets in seconds:

* ``Post``: a webhook in Mailchimp's form-encoded format posted straight to ``serve`` (unsubscribes with a
  unique campaign id each, profile changes, and older ``subscribe`` events sent *after* the unsubscribe
  that followed them: reordering), 10 % of them posted twice, shuffled within small windows;
* ``PersonUnsubscribe``: a person clicks unsubscribe in the sandbox, which delivers the webhook itself
  (with its own retries);
* ``Import``: a small CSV with opt-outs (``consent=no`` with evidence) and new contacts with consent,
  applied with ``--source chaos``; each file is applied a second time later (an operator's retry).

Every opt-out goes to a different contact, fewer than ``sync.max_destructive_fraction`` of the audience
per sync interval, so the destructive guard is not what the run measures.
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from tests.sync.bulk import email_of

PURPOSES = ("newsletter", "offers", "partner_offers")


@dataclass(frozen=True)
class Post:
    body: bytes
    kind: str
    email: str
    campaign: str = ""


@dataclass(frozen=True)
class PersonUnsubscribe:
    email: str
    campaign: str


@dataclass(frozen=True)
class Import:
    name: str
    text: str
    opt_outs: tuple[str, ...]
    new_contacts: tuple[str, ...]


Action = Post | PersonUnsubscribe | Import


@dataclass(frozen=True)
class Workload:
    contacts: int
    timeline: tuple[tuple[float, Action], ...]

    def count(self, kind: type) -> int:
        return sum(1 for _, action in self.timeline if isinstance(action, kind))


def fired_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def webhook_body(
    kind: str, email: str, list_id: str, fired: datetime, extra: list[tuple[str, str]], name: str = "Person"
) -> bytes:
    head = [("type", kind), ("fired_at", fired_text(fired))]
    data = [("data[id]", email[:10]), ("data[list_id]", list_id), ("data[email]", email)]
    data += [("data[email_type]", "html"), ("data[ip_opt]", "10.20.10.30")]
    merges = [("data[merges][EMAIL]", email), ("data[merges][FNAME]", name)]
    return urlencode(head + extra + data + merges).encode()


def build_workload(seed: int, contacts: int, events: int, duration: float, list_id: str) -> Workload:
    """About ``events`` webhook posts (duplicates included) and the other actions, over ``duration`` s."""
    rng = random.Random(seed)
    order = list(range(contacts))
    rng.shuffle(order)
    opt_outs = max(8, contacts * 8 // 100)  # 8 % of the audience opts out over the whole run
    person, imported = opt_outs // 4, opt_outs // 4
    direct = opt_outs - person - imported
    chosen = [email_of(i) for i in order[:opt_outs]]
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    posts = _posts(rng, chosen[:direct], order, events, list_id, base)
    people = [PersonUnsubscribe(e, f"cp{n:05d}") for n, e in enumerate(chosen[direct : direct + person])]
    imports = _imports(chosen[direct + person :], contacts)
    timeline = _spread(rng, posts, people, imports, duration)
    return Workload(contacts + sum(len(i.new_contacts) for i in imports), tuple(timeline))


def _posts(
    rng: random.Random, unsubscribers: list[str], order: list[int], events: int, list_id: str, base: datetime
) -> list[Post]:
    stream: list[Post] = []
    for n, email in enumerate(unsubscribers):
        fired = base + timedelta(seconds=2 * n + 1)
        campaign = f"cd{n:05d}"
        extra = [("data[action]", "unsub"), ("data[reason]", "manual"), ("data[campaign_id]", campaign)]
        body = webhook_body("unsubscribe", email, list_id, fired, extra)
        stream.append(Post(body, "unsubscribe", email, campaign))
        if rng.random() < 0.3:  # the sign-up before it arrives after it
            earlier = fired - timedelta(seconds=1)
            stream.append(Post(webhook_body("subscribe", email, list_id, earlier, []), "subscribe", email))
    distinct = max(len(stream), int(events / 1.1))
    for n in range(distinct - len(stream)):
        email = email_of(rng.choice(order))
        fired = base + timedelta(seconds=n % 900)
        body = webhook_body("profile", email, list_id, fired, [], name=f"Name{n}")
        stream.append(Post(body, "profile", email))
    rng.shuffle(stream)
    _keep_unsubscribe_before_its_subscribe(stream)
    repeats = rng.sample(stream, len(stream) // 10)
    for repeat in repeats:  # Mailchimp's at-least-once delivery: the same body again, later
        stream.insert(rng.randrange(stream.index(repeat) + 1, len(stream) + 1), repeat)
    return stream


def _keep_unsubscribe_before_its_subscribe(stream: list[Post]) -> None:
    """Reordering: each older ``subscribe`` is posted after the ``unsubscribe`` that followed it."""
    for email in {p.email for p in stream if p.kind == "subscribe"}:
        subscribe = next(i for i, p in enumerate(stream) if p.kind == "subscribe" and p.email == email)
        unsubscribe = next(i for i, p in enumerate(stream) if p.kind == "unsubscribe" and p.email == email)
        if subscribe < unsubscribe:
            stream[subscribe], stream[unsubscribe] = stream[unsubscribe], stream[subscribe]


def _imports(opt_outs: list[str], contacts: int) -> list[Import]:
    today = datetime.now(UTC).date().isoformat()
    header = "email,consent,given_at,method,notice_version,purpose,channel\n"
    files = []
    for n, part in enumerate((opt_outs[: len(opt_outs) // 2], opt_outs[len(opt_outs) // 2 :])):
        new = tuple(email_of(contacts + 10 * n + k) for k in range(5))
        rows = [f"{e},no,{today},in_store,cs-1,newsletter,email\n" for e in part]
        rows += [f"{e},yes,{today},checkout,n1,newsletter,email\n" for e in new]
        files.append(Import(f"chaos-import-{n}.csv", header + "".join(rows), tuple(part), new))
    return files


def _spread(
    rng: random.Random,
    posts: list[Post],
    people: list[PersonUnsubscribe],
    imports: list[Import],
    duration: float,
) -> list[tuple[float, Action]]:
    step = duration / max(1, len(posts))
    timeline: list[tuple[float, Action]] = [(n * step, post) for n, post in enumerate(posts)]
    timeline += [(rng.uniform(0.05, 0.9) * duration, person) for person in people]
    for n, each in enumerate(imports):
        timeline.append(((0.25 + 0.4 * n) * duration, each))
        timeline.append(((0.35 + 0.4 * n) * duration, each))  # applied again: must change nothing
    return sorted(timeline, key=lambda item: item[0])
