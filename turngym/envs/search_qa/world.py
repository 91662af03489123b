"""Fictional multi-hop worlds: invented entities, encyclopedia passages and questions.

Nothing here exists outside the generator (names are random syllable strings),
so no pretrained model has seen a fact of it: contamination-free by
construction, as in ReSeek's FictionalHot. A world has four kinds of entity:

- people: born in a city in some year, employed by an organisation;
- organisations: founded in some year by a person, headquartered in a city;
- cities: located in a country;
- countries: have a capital city and a currency.

Each entity has one encyclopedia page (a passage stating all its facts).
Distractor passages mention entities without stating the facts asked about;
at harder levels "near-miss" passages state facts about similarly named
entities and name the real one ("not to be confused with ..."). A question
follows a chain of 1 to 4 relations from a named entity; hop ``i`` is answered
by the page of the ``i``-th entity on the chain, so the gold supporting
passages are those pages, in order. Everything is drawn from
``random.Random(seed)``: the same config gives the same world and questions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from turngym.envs.search_qa.corpus import Corpus, Passage, QATask

# ----- configuration ---------------------------------------------------------------------


@dataclass(frozen=True)
class WorldConfig:
    """Size and difficulty of a generated world.

    ``near_misses`` near-miss passages are written for that share of people and
    organisations; ``mentions`` is the number of plain distractor passages.
    ``min_hops``/``max_hops`` bound the questions; ``name_answers_only`` keeps
    questions whose answer is a name (no years).
    """

    countries: int = 8
    cities: int = 50
    orgs: int = 60
    people: int = 250
    mentions: int = 150
    near_misses: float = 0.0
    min_hops: int = 1
    max_hops: int = 2
    name_answers_only: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_hops <= self.max_hops <= 4:
            raise ValueError(f"hops must satisfy 1 <= min_hops <= max_hops <= 4, got "
                             f"{self.min_hops}..{self.max_hops}")
        if min(self.countries, self.cities, self.orgs, self.people) < 1 or self.cities < self.countries:
            raise ValueError("a world needs >= 1 of each entity kind and at least one city per country")
        if self.mentions < 0 or not 0.0 <= self.near_misses <= 1.0:
            raise ValueError("mentions must be >= 0 and near_misses in [0, 1]")

    @property
    def passages(self) -> int:
        """Approximate corpus size (entity pages + distractors)."""
        named = self.people + self.orgs
        return self.countries + self.cities + named + self.mentions + round(self.near_misses * named)


LEVELS: dict[str, WorldConfig] = {
    # 1 hop, a name to find, few distractors: the question text itself finds the page.
    "easy": WorldConfig(countries=6, cities=30, orgs=30, people=120, mentions=60,
                        min_hops=1, max_hops=1, name_answers_only=True),
    "medium": WorldConfig(countries=8, cities=50, orgs=60, people=250, mentions=150,
                          near_misses=0.1, min_hops=1, max_hops=2),
    "hard": WorldConfig(countries=20, cities=200, orgs=400, people=1600, mentions=1200,
                        near_misses=0.3, min_hops=2, max_hops=4),
    "huge": WorldConfig(countries=200, cities=4000, orgs=10000, people=60000, mentions=17400,
                        near_misses=0.12, min_hops=1, max_hops=4),
}
"""Difficulty levels: ``easy`` ~250 passages, ``medium`` ~570, ``hard`` ~3,900, ``huge`` ~100,000."""


# ----- names -----------------------------------------------------------------------------

_ONSETS = ("b", "br", "d", "dr", "f", "g", "gr", "k", "kr", "l", "m", "n", "p", "qu", "r", "s", "sh",
           "st", "t", "th", "tr", "v", "vr", "z", "zh", "h", "j", "w", "y", "c", "cl", "pl")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ei", "ou", "y", "ia")
_CODAS = ("", "", "", "", "", "n", "r", "l", "s", "th", "m", "x", "nd", "rk")
_OCCUPATIONS = ("weaver", "cartographer", "glassblower", "archivist", "shipwright", "astronomer",
                "beekeeper", "clockmaker", "botanist", "surveyor", "potter", "translator")
_ORG_KINDS = ("Labs", "Guild", "Institute", "Company", "Collective", "Foundry", "Works", "Society")
_EVENTS = ("harvest fair", "river regatta", "lantern festival", "chess tournament", "trade expo",
           "poetry reading", "kite contest", "music gala")
_HOBBIES = ("collecting maps", "growing orchids", "sailing small boats", "writing letters",
            "restoring clocks", "painting birds", "long walks", "mountain climbing")


def _name_pool(rng: random.Random, count: int, taken: set[str], min_syl: int, max_syl: int) -> list[str]:
    """``count`` new capitalised invented words, none in ``taken`` (which is updated)."""
    out: list[str] = []
    while len(out) < count:
        parts = []
        for _ in range(rng.randint(min_syl, max_syl)):
            parts.append(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS))
        word = "".join(parts).capitalize()
        if len(word) >= 4 and word.lower() not in taken:
            taken.add(word.lower())
            out.append(word)
    return out


# ----- the world -------------------------------------------------------------------------


@dataclass
class Entity:
    """One entity: ``kind`` is person/org/city/country; ``facts`` maps relation -> value."""

    key: str
    kind: str
    name: str
    aliases: tuple[str, ...]
    facts: dict[str, str | int] = field(default_factory=dict)
    page_id: str = ""


@dataclass(frozen=True)
class Relation:
    """A step along a question chain: from an entity of ``source`` kind to ``target``.

    ``target`` is an entity kind, or ``"year"``/``"currency"`` for a literal value.
    ``question`` phrases it as a question about description ``{d}``; ``phrase`` as a noun
    phrase that nests in a longer question; ``keywords`` go into the oracle's query.
    """

    name: str
    source: str
    target: str
    question: str
    phrase: str
    keywords: str


RELATIONS: tuple[Relation, ...] = (
    Relation("born_in", "person", "city", "In which city was {d} born?",
             "the city where {d} was born", "born city"),
    Relation("employer", "person", "org", "Who is the employer of {d}?",
             "the employer of {d}", "employer"),
    Relation("birth_year", "person", "year", "In which year was {d} born?", "", "born year"),
    Relation("country", "city", "country", "Which country is {d} located in?",
             "the country where {d} is located", "city located country"),
    Relation("capital", "country", "city", "What is the capital of {d}?",
             "the capital of {d}", "capital"),
    Relation("currency", "country", "currency", "What is the currency of {d}?", "", "currency"),
    Relation("founder", "org", "person", "Who founded {d}?", "the founder of {d}", "founded"),
    Relation("headquarters", "org", "city", "In which city are the headquarters of {d}?",
             "the city where the headquarters of {d} are", "headquarters city"),
    Relation("founded_year", "org", "year", "In which year was {d} founded?", "", "founded year"),
)
_BY_SOURCE: dict[str, list[Relation]] = {}
for _rel in RELATIONS:
    _BY_SOURCE.setdefault(_rel.source, []).append(_rel)


@dataclass
class World:
    """A generated world: its entities by key, its corpus and the config it came from."""

    config: WorldConfig
    entities: dict[str, Entity]
    corpus: Corpus

    def entity(self, key: str) -> Entity:
        """The entity with this key."""
        return self.entities[key]


def generate_world(config: WorldConfig) -> World:
    """Build the entities, their pages and the distractor passages of ``config``."""
    rng = random.Random(f"turngym-searchqa-world-{config.seed}")
    taken: set[str] = set()
    country_names = _name_pool(rng, config.countries, taken, 2, 3)
    city_names = _name_pool(rng, config.cities, taken, 2, 2)
    org_stems = _name_pool(rng, config.orgs, taken, 2, 2)
    n_first = max(20, min(3000, config.people // 15))
    n_last = max(40, config.people // 6)
    firsts = _name_pool(rng, n_first, taken, 1, 2)
    lasts = _name_pool(rng, n_last, taken, 2, 2)
    currencies = [w.lower() for w in _name_pool(rng, config.countries, taken, 1, 2)]

    entities: dict[str, Entity] = {}
    countries = [f"country:{i}" for i in range(config.countries)]
    cities = [f"city:{i}" for i in range(config.cities)]
    orgs = [f"org:{i}" for i in range(config.orgs)]
    people = [f"person:{i}" for i in range(config.people)]
    for key, name, cur in zip(countries, country_names, currencies):
        entities[key] = Entity(key, "country", name, (name, f"Republic of {name}"), {"currency": cur})
    for i, (key, name) in enumerate(zip(cities, city_names)):
        country = countries[i] if i < len(countries) else rng.choice(countries)
        entities[key] = Entity(key, "city", name, (name, f"{name} City"), {"country": country,
                                                                              "year": rng.randint(900, 1700)})
    for i, key in enumerate(countries):
        own = [c for c in cities if entities[c].facts["country"] == key]
        entities[key].facts["capital"] = own[0] if i < len(cities) else rng.choice(own)
    for key, stem in zip(orgs, org_stems):
        name = f"{stem} {rng.choice(_ORG_KINDS)}"
        entities[key] = Entity(key, "org", name, (name, stem))
    full_names: set[str] = set()
    for key in people:
        while True:
            name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
            if name not in full_names:
                break
        full_names.add(name)
        entities[key] = Entity(key, "person", name, (name,), {
            "born_in": rng.choice(cities), "employer": rng.choice(orgs),
            "birth_year": rng.randint(1750, 1990), "occupation": rng.choice(_OCCUPATIONS),
            "hobby": rng.choice(_HOBBIES)})
    for key in orgs:
        entities[key].facts.update({"founder": rng.choice(people), "headquarters": rng.choice(cities),
                                    "founded_year": rng.randint(1700, 1990)})

    def n(key: object) -> str:
        return entities[str(key)].name

    texts: list[tuple[str, str, str | None]] = []  # (title, text, entity key)
    for key in countries:
        f = entities[key].facts
        name = n(key)
        texts.append((name, f"{name} is a country whose capital is {n(f['capital'])}. The currency of "
                            f"{name} is the {f['currency']}. Travellers describe {name} as quiet and green.",
                      key))
    for key in cities:
        f = entities[key].facts
        name = n(key)
        texts.append((name, f"{name} is a city located in the country of {n(f['country'])}. {name} was "
                            f"first settled in {f['year']} and is known for its "
                            f"{rng.choice(_EVENTS)}.", key))
    for key in orgs:
        f = entities[key].facts
        name = n(key)
        texts.append((name, f"{name} is an organisation founded in the year {f['founded_year']} by "
                            f"{n(f['founder'])}. The headquarters of {name} are in the city of "
                            f"{n(f['headquarters'])}.", key))
    for key in people:
        f = entities[key].facts
        name = n(key)
        first = name.split()[0]
        texts.append((name, f"{name} is a {f['occupation']}. {name} was born in the year {f['birth_year']} "
                            f"in the city of {n(f['born_in'])}. The employer of {name} is "
                            f"{n(f['employer'])}. {first} is fond of {f['hobby']}.", key))
    named = people + orgs
    for key in rng.sample(named, round(config.near_misses * len(named))):
        texts.append(_near_miss(rng, entities[key], entities, firsts, lasts, full_names, cities))
    for _ in range(config.mentions):
        a, b = rng.sample(named, 2)
        event = rng.choice(_EVENTS)
        year = rng.randint(1800, 2000)
        texts.append((f"The {year} {event}",
                      f"In {year}, {n(a)} and {n(b)} both attended the {event} in {n(rng.choice(cities))}, "
                      f"according to a local newsletter.", None))
    order = list(range(len(texts)))
    rng.shuffle(order)  # passage ids carry no hint of what a passage is
    passages = []
    for position, i in enumerate(order):
        title, text, key = texts[i]
        pid = f"w{config.seed}-{position:06d}"
        passages.append(Passage(pid, title, text))
        if key is not None:
            entities[key].page_id = pid
    return World(config, entities, Corpus(passages))


def _near_miss(rng: random.Random, target: Entity, entities: dict[str, Entity], firsts: list[str],
               lasts: list[str], full_names: set[str], cities: list[str]) -> tuple[str, str, None]:
    """A passage about a similarly named (otherwise unknown) entity that names ``target``."""
    if target.kind == "person":
        first = target.name.split()[0]
        while True:
            other = f"{first} {rng.choice(lasts)}"
            if other not in full_names:
                break
        city = entities[rng.choice(cities)].name
        return (other, f"{other} was born in the year {rng.randint(1750, 1990)} in the city of {city}. "
                       f"{other} is not to be confused with {target.name}.", None)
    stem = target.aliases[-1]
    kind = rng.choice([k for k in _ORG_KINDS if not target.name.endswith(k)])
    other = f"{stem} {kind}"
    return (other, f"{other} was founded in the year {rng.randint(1700, 1990)} and is not to be confused "
                   f"with {target.name}; its headquarters are in the city of "
                   f"{entities[rng.choice(cities)].name}.", None)


# ----- questions -------------------------------------------------------------------------


def _answer_aliases(world: World, rel: Relation, value: str | int) -> tuple[str, ...]:
    if rel.target == "year":
        return (str(value),)
    if rel.target == "currency":
        return (str(value), f"{value}s")
    return world.entities[str(value)].aliases


def generate_questions(world: World, count: int, *, seed: int = 0,
                       accept: Callable[[QATask], bool] | None = None) -> list[QATask]:
    """``count`` questions of ``world.config``'s hop range, reproducible from ``seed``.

    ``accept`` may reject candidates (the environment uses it to keep easy
    questions whose text retrieves the answer page first); a rejected draw is
    replaced by a fresh one, giving up after ``50 * count`` draws.
    """
    cfg = world.config
    rng = random.Random(f"turngym-searchqa-questions-{cfg.seed}-{seed}")
    by_kind: dict[str, list[str]] = {}
    for key, e in world.entities.items():
        by_kind.setdefault(e.kind, []).append(key)
    tasks: list[QATask] = []
    draws = 0
    while len(tasks) < count:
        draws += 1
        if draws > 50 * max(count, 1):
            raise RuntimeError(f"could only generate {len(tasks)} of {count} questions for this world")
        hops = rng.randint(cfg.min_hops, cfg.max_hops)
        chain = _sample_chain(world, rng, hops, by_kind)
        if chain is None:
            continue
        start, rels, values = chain
        description = world.entities[start].name
        for rel in rels[:-1]:
            description = rel.phrase.format(d=description)
        question = rels[-1].question.format(d=description)
        visited = [start, *values[:-1]]
        task = QATask(
            task_id=f"gen-s{cfg.seed}-q{len(tasks):05d}",
            question=question[0].upper() + question[1:],
            answers=_answer_aliases(world, rels[-1], values[-1]),
            gold_ids=tuple(world.entities[k].page_id for k in visited),
            hops=hops,
            chain=tuple(f"{world.entities[k].name} {rel.keywords}" for k, rel in zip(visited, rels)),
            meta={"relations": "/".join(r.name for r in rels)},
        )
        if accept is None or accept(task):
            tasks.append(task)
    return tasks


def _sample_chain(world: World, rng: random.Random, hops: int, by_kind: dict[str, list[str]]
                  ) -> tuple[str, list[Relation], list[str | int]] | None:
    kinds = ["person", "org", "city", "country"]
    start = rng.choice(by_kind[rng.choice(kinds)])
    current, seen = start, {start}
    rels: list[Relation] = []
    values: list[str | int] = []
    for hop in range(hops):
        last = hop == hops - 1
        options = [r for r in _BY_SOURCE[world.entities[current].kind]
                   if last or r.target in ("person", "org", "city", "country")]
        if last and world.config.name_answers_only:
            options = [r for r in options if r.target != "year"]
        options = [r for r in options if r.target not in ("person", "org", "city", "country")
                   or str(world.entities[current].facts[r.name]) not in seen]
        if not options:
            return None
        rel = rng.choice(options)
        value = world.entities[current].facts[rel.name]
        rels.append(rel)
        values.append(value)
        if rel.target in ("person", "org", "city", "country"):
            current = str(value)
            seen.add(current)
    return start, rels, values
