"""A small judged retrieval set for hybrid search, generated deterministically (no downloads).

280 documents and 90 queries, each query with its one relevant document:

- ``exact`` (30): an error code only one support article holds ("what does error E4127 mean"):
  the words around it are shared by every article, so only the exact token finds it;
- ``semantic`` (30): a paraphrase of one of 30 everyday-topic documents that shares none of its
  content words ("photovoltaic modules generate clean electricity" for the solar-panel document);
- ``mixed`` (30): a product name plus a paraphrased problem ("Zentrix X200 runs out of juice
  quickly"): the name is exact (10 articles share it), the problem is only a meaning (25 products
  share it); only the article about both is relevant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PRODUCTS = [
    "Zentrix X200", "Quorvel Q9", "Altmira Pro", "Brevon B4", "Calyx C12", "Dorvex D7", "Elmora E3", "Fyndor F8",
    "Galvix G5", "Helkin H2", "Ivrana I6", "Jexor J11", "Kalmo K3", "Lunvex L9", "Morvia M4", "Nexalt N8",
    "Orvyn O2", "Pextra P6", "Quillon Q3", "Ruvelo R7", "Syntra S5", "Tovex T10", "Ulmira U4", "Varnix V2",
    "Wexlo W9",
]

# Each problem: three ways an article states it, and one paraphrase a user types (other words).
PROBLEMS = {
    "battery": (["The {p} battery drains within a few hours even when idle.",
                 "Owners report that the {p} loses its charge overnight.",
                 "Power consumption of the {p} is far higher than the specification."],
                "runs out of juice too quickly"),
    "heat": (["The {p} gets very hot during normal use.",
              "The {p} casing reaches high temperatures and the fan is loud.",
              "Thermal throttling slows the {p} after ten minutes of work."],
             "feels like it is burning up"),
    "display": (["The {p} display flickers at low brightness.",
                 "Horizontal lines appear on the {p} screen after waking.",
                 "The {p} panel shows dead pixels in one corner."],
                "picture keeps blinking on and off"),
    "wireless": (["The {p} drops its Wi-Fi connection every few minutes.",
                  "The {p} cannot join a 5 GHz wireless network.",
                  "Network throughput on the {p} falls to almost zero."],
                 "keeps losing internet"),
    "login": (["Users cannot sign in to the {p} after the update.",
               "The {p} rejects correct passwords at the login prompt.",
               "Two-factor codes are not accepted by the {p}."],
              "unable to get into my account"),
    "sync": (["Files edited on the {p} do not synchronize with the cloud.",
              "The {p} creates duplicate copies of documents during sync.",
              "Changes made offline on the {p} are lost when it reconnects."],
             "documents never reach online storage"),
    "audio": (["The {p} speaker crackles at high volume.",
               "Headphones connected to the {p} produce a buzzing noise.",
               "The {p} microphone records with heavy static."],
              "sound is distorted"),
    "printing": (["The {p} jams when printing double-sided pages.",
                  "The {p} prints blank sheets after a cartridge change.",
                  "Print jobs sent to the {p} stay queued forever."],
                 "paper gets stuck inside"),
    "billing": (["Customers of the {p} subscription were charged twice this month.",
                 "The {p} invoice shows a fee for a plan that was cancelled.",
                 "Refunds for the {p} take more than thirty days."],
                "I paid two times for the same thing"),
    "startup": (["The {p} takes several minutes to boot.",
                 "The {p} freezes on the logo during startup.",
                 "After a restart the {p} shows a black screen."],
                "slow to turn on"),
}

# Everyday topics: a document and a paraphrase that shares none of its content words.
TOPICS = [
    ("Solar panels convert sunlight into renewable energy.", "photovoltaic modules generate clean electricity"),
    ("A cat sat on the warm windowsill all afternoon.", "kitten resting by a sunny pane of glass"),
    ("The recipe calls for flour, sugar, butter and two eggs.", "ingredients needed to bake a cake"),
    ("Regular exercise strengthens the heart and lowers blood pressure.", "working out benefits cardiovascular health"),
    ("The violinist performed a concerto with the symphony orchestra.", "classical string soloist on stage"),
    ("Heavy rainfall caused the river to overflow its banks.", "flooding after a big storm"),
    ("The spacecraft entered orbit around Mars after a seven-month journey.", "probe reaches the red planet"),
    ("Bees pollinate flowers while collecting nectar.", "insects that help plants reproduce"),
    ("The central bank raised interest rates to fight inflation.", "monetary tightening to curb rising prices"),
    ("Glaciers are melting faster because of global warming.", "ice sheets shrinking due to climate change"),
    ("The toddler learned to walk at eleven months.", "baby taking first steps"),
    ("Volcanic eruptions release ash and lava.", "magma exploding out of a mountain"),
    ("The chess grandmaster sacrificed her queen to win the game.", "board champion gives up strongest piece"),
    ("Antibiotics kill bacteria but do not work against viruses.", "infection medicine useless for flu"),
    ("The marathon runner crossed the finish line after 42 kilometres.", "long distance race completed"),
    ("Coffee contains caffeine, which keeps people awake.", "espresso stimulant prevents sleepiness"),
    ("The museum displays ancient Egyptian mummies.", "exhibition of preserved pharaoh bodies"),
    ("Whales migrate thousands of miles to warmer waters to give birth.", "large marine mammals travel to calve"),
    ("The carpenter built a wooden table with oak planks.", "furniture handmade from timber"),
    ("Earthquakes occur when tectonic plates shift suddenly.", "ground shaking caused by crust movement"),
    ("The novel tells the story of a detective solving a murder in London.", "crime fiction about an investigator"),
    ("Tomatoes grow best in full sun with regular watering.", "gardening tips for vegetables"),
    ("The airline cancelled flights because of a snowstorm.", "planes grounded due to blizzard"),
    ("Children should brush their teeth twice a day.", "kids dental hygiene routine"),
    ("The stock market fell sharply after the earnings report.", "shares dropped following quarterly results"),
    ("Penguins huddle together to stay warm in Antarctica.", "polar birds keep heat by grouping"),
    ("The orchestra's drummer kept a steady tempo.", "percussionist maintaining rhythm"),
    ("A balanced diet includes fruits, vegetables and whole grains.", "healthy eating habits"),
    ("The firefighters rescued a family from the burning house.", "blaze emergency crew saves people"),
    ("Honey never spoils if stored in a sealed jar.", "sweet bee product lasts forever"),
]


@dataclass(frozen=True)
class Query:
    kind: str
    text: str
    relevant: frozenset[int]


def build(seed: int = 12) -> tuple[list[tuple[int, str]], list[Query]]:
    """(documents as (id, text), queries) - the same every time for a seed."""
    rng = random.Random(seed)
    codes = rng.sample(range(1000, 10000), len(PRODUCTS) * len(PROBLEMS))
    documents: list[tuple[int, str]] = []
    article: dict[tuple[str, str], tuple[int, str]] = {}
    for p_index, product in enumerate(PRODUCTS):
        for c_index, (problem, (templates, _)) in enumerate(PROBLEMS.items()):
            code = f"E{codes[p_index * len(PROBLEMS) + c_index]}"
            text = (f"{templates[(p_index + c_index) % len(templates)].format(p=product)} "
                    f"The device logs error {code} when this happens; support can help.")
            doc_id = len(documents) + 1
            documents.append((doc_id, text))
            article[(product, problem)] = (doc_id, code)
    topic_ids = []
    for text, _ in TOPICS:
        topic_ids.append(len(documents) + 1)
        documents.append((len(documents) + 1, text))
    order = list(range(len(documents)))
    rng.shuffle(order)  # ids do not follow the kinds of documents
    renumber = {old + 1: new + 1 for new, old in enumerate(order)}
    documents = sorted(((renumber[i], t) for i, t in documents), key=lambda d: d[0])

    queries: list[Query] = []
    pairs = list(article.items())
    for _, (doc_id, code) in rng.sample(pairs, 30):
        queries.append(Query("exact", f"what does error {code} mean", frozenset({renumber[doc_id]})))
    for (_, paraphrase), doc_id in zip(TOPICS, topic_ids, strict=True):
        queries.append(Query("semantic", paraphrase, frozenset({renumber[doc_id]})))
    for (product, problem), (doc_id, _) in rng.sample(pairs, 30):
        queries.append(Query("mixed", f"{product} {PROBLEMS[problem][1]}", frozenset({renumber[doc_id]})))
    return documents, queries
