"""The fixed inputs the export gates score: the probe set and the validation comments.

``PROBES`` (ro/en/uk/ru, emoji only, empty and absent context, long comments) feed the parity and
int8 fidelity gates; the int8 flag-agreement gate and the hybrid parity gate use validation
comments (:func:`load_validation_items`) or, without data, :func:`builtin_validation_items`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...serving.scorer_inputs import Triple
from .errors import ExportError

_ARTICLE_RO = (
    "Primăria Clujului a aprobat bugetul pe anul viitor",
    "Consiliul local a votat noul buget, care include o linie de tramvai și reabilitarea a trei școli. "
    "Opoziția a criticat lipsa fondurilor pentru transportul public din cartierele noi.",
)
_ARTICLE_EN = (
    "Council approves new cycling lanes",
    "The city council voted on Tuesday to build 40 km of protected cycling lanes over the next two years.",
)
_ARTICLE_UK = ("Київ відкриває новий міст", "Міська рада повідомила, що рух мостом відкриють у грудні.")
_ARTICLE_RU = ("В Кишинёве ремонтируют дороги", "Мэрия обещает закончить ремонт центральных улиц к осени.")

_LONG_RO = " ".join(
    [
        "Am citit articolul de trei ori și tot nu înțeleg de ce primăria cheltuie atâția bani pe borduri "
        "în loc să repare conductele de apă care se sparg în fiecare iarnă.",
        "Vecinii mei din cartier așteaptă de zece ani o stație de autobuz, iar răspunsul e mereu același.",
        "Sincer, cine a votat bugetul ăsta ar trebui să vină să stea o săptămână în blocul nostru.",
    ]
    * 6
)
_LONG_EN = " ".join(
    [
        "I have lived in this neighbourhood for twenty years and every single council has promised the same "
        "thing before the election and then forgotten about it the day after.",
        "The cycling lanes are fine, but the buses still run every forty minutes and nobody talks about it.",
        "What an absolute clown show, honestly, these people could not organise a picnic.",
    ]
    * 6
)


@dataclass(frozen=True)
class Probe:
    """A fixed input the parity and fidelity gates score."""

    name: str
    text: str
    article_title: str | None = None
    article_text: str | None = None

    @property
    def item(self) -> Triple:
        return (self.text, self.article_title, self.article_text)


PROBES: tuple[Probe, ...] = (
    Probe("ro-abusive", "Ești un cretin, taci din gură și du-te acasă.", *_ARTICLE_RO),
    Probe("ro-mocking", "Felicitări, domnule primar, geniu curat! Încă un buget record 👏👏", *_ARTICLE_RO),
    Probe("ro-offtopic", "Vând Logan 2012, 90.000 km, detalii în privat.", *_ARTICLE_RO),
    Probe("ro-neutral", "Bine că se face tramvaiul, dar când începe lucrarea efectiv?", *_ARTICLE_RO),
    Probe("ro-no-diacritics", "sa le fie rusine, asa e mereu in tara asta", *_ARTICLE_RO),
    Probe("en-abusive", "You are a pathetic idiot and everyone here hates you.", *_ARTICLE_EN),
    Probe("en-mocking", "Sure, because that worked so well last time 🙄", *_ARTICLE_EN),
    Probe("en-offtopic", "Earn $500 a day from home!!! http://example.com/join", *_ARTICLE_EN),
    Probe("uk-neutral", "Дякую за статтю, дуже корисно. Коли відкриють міст?", *_ARTICLE_UK),
    Probe("uk-abusive", "Ти тупий дурень, закрий рота.", *_ARTICLE_UK),
    Probe("ru-mocking", "Ну да, конечно, лучшие в мире дороги 😂😂😂", *_ARTICLE_RU),
    Probe("ru-abusive", "Сдохни, тварь. Автора на мыло.", *_ARTICLE_RU),
    Probe("emoji-only", "😂😂😂🤡🤡👏"),
    Probe("empty-context-ro", "Primarul ăsta e o glumă proastă.", "", ""),
    Probe("no-context-en", "Totally agree with the previous comment."),
    Probe("title-only-ru", "Опять обещания.", _ARTICLE_RU[0], None),
    Probe("single-char", "?"),
    Probe("long-ro", _LONG_RO, *_ARTICLE_RO),
    Probe("long-en-no-context", _LONG_EN),
    Probe("mixed-scripts", "Bravo 👏 молодцы, very good, foarte bine!!! ăîâșț ґєії", *_ARTICLE_EN),
)

_SAMPLE_TEXTS = (
    "Ești un cretin, taci din gură.",
    "Bravo, încă o promisiune electorală, ce surpriză 😂",
    "Cumpăr apartament 2 camere zona Mănăștur, sunați la 0722 000 000",
    "Mulțumim pentru informații, foarte util articolul.",
    "Cine a câștigat meciul aseară?",
    "Hoții ăștia de politicieni ar trebui băgați la pușcărie toți.",
    "Sper să nu dureze lucrările încă zece ani.",
    "Ce jurnalism de doi lei, nici măcar titlul nu e scris corect.",
    "Asta da știre, a doua zi după ce s-a întâmplat 🤦",
    "Nu înțeleg de ce nu se face nimic pentru pensionari.",
    "Go back to where you came from, nobody wants you here.",
    "Great job, council, another genius plan 👏",
    "Check out my channel for free crypto tips!!!",
    "Thanks, this is helpful. When does construction start?",
    "Does anyone know a good plumber in the area?",
    "This is the dumbest thing I have read all week.",
    "I think the lanes will help, my kids cycle to school.",
    "Lol, sure, and pigs will fly next Tuesday.",
    "Дякую, нарешті хоч якісь новини про міст.",
    "Ти що, зовсім дурний? Читати навчись.",
    "Продам гараж, недорого, пишіть в особисті.",
    "Ага, звісно, все буде вчасно 😂",
    "Спасибо за статью, всё по делу.",
    "Идиоты, кто вообще за них голосовал?",
    "Ну конечно, как всегда, к осени, какого года только?",
    "Кто-нибудь смотрел вчера футбол?",
    "👍",
    "🤡🤡🤡",
    "ok",
    "Primăria să repare întâi gropile, apoi să se laude.",
    "Ce treabă are asta cu bugetul? Vorbiți de altceva.",
    "Un articol echilibrat, în sfârșit.",
    "Voi ăștia de la ziar sunteți plătiți de partid, rușine!",
    "Frumos spus, dar realitatea e alta.",
    "Nobody asked, Karen.",
    "Finally some good news for the city.",
    "Лол, ну и новости, хоть стой хоть падай.",
    "Автор, ти взагалі був у цьому районі?",
    "Super idee, dar cine plătește?",
    "Ce mai faceți, vecinilor? Eu am fost la mare.",
)


def builtin_validation_items() -> list[Triple]:
    """120 deterministic comments (40 texts x {no context, Romanian article, English article})."""
    contexts: tuple[tuple[str | None, str | None], ...] = ((None, None), _ARTICLE_RO, _ARTICLE_EN)
    return [(text, title, body) for title, body in contexts for text in _SAMPLE_TEXTS]


def load_validation_items(
    dataset_dir: Path, max_rows: int = 5000, split: str = "validation", seed: int = 0
) -> list[Triple]:
    """A seeded random sample of up to ``max_rows`` comments of a saved DatasetDict's split.

    Random, not the first rows: the split is stored grouped by source, so its head is one
    language (the first 2000 validation rows of data/full are 97 % Romanian).
    """
    from datasets import load_from_disk

    from ...model.record import CommentRecord

    dsd = load_from_disk(str(dataset_dir))
    if split not in dsd:
        raise ExportError(
            f"{dataset_dir} has splits {sorted(dsd)}, no {split!r}; build it with `commentmod data`"
        )
    ds = dsd[split]
    n = min(max_rows, len(ds))
    picked = np.sort(np.random.default_rng(seed).choice(len(ds), size=n, replace=False))
    rows = ds.select(picked.tolist())
    items: list[Triple] = []
    for row in rows:
        rec = CommentRecord.from_row(row)
        items.append((rec.text, rec.article_title, rec.article_text))
    return items
