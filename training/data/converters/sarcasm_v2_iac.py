"""Sarcasm Corpus V2 (Oraby et al. 2016): English debate-forum replies (Internet Argument Corpus).

Raw file ``sarcasm_v2.csv`` (comma-separated, standard quoting): ``Corpus`` (``GEN`` general, ``RQ``
rhetorical questions, ``HYP`` hyperbole), ``Label`` (``sarc`` / ``notsarc``, crowd annotators), ``ID``,
``Quote Text`` (the post being answered), ``Response Text`` (the reply to classify). This copy holds
about 80% of the rows; the rest is held out.

Mapping (only ``mocking``; ``abusive`` and ``off_topic`` are None): ``sarc`` -> 1 (sarcasm in a reply
to an opponent's post ridicules that post or its author), ``notsarc`` -> 0 (replies from the same
forums; the RQ and HYP negatives are rhetorical questions and hyperbole that are *not* sarcastic, good
hard negatives). Both classes are equally frequent by design; the catalog caps the positive rate.

Context: ``Quote Text`` -> ``article_text`` (``article_title`` None), as the thing the reply is about.

Forum smileys were replaced by placeholders such as ``emoticonXRolleyes`` (8.7% of the sarcastic, 1.3%
of the other replies), sometimes glued to the next word (``emoticonXRolleyesso``). ``emoticons``:
``emoji`` (default) writes the emoji the smiley showed (🙄 for Rolleyes, 🤡 for Clown, ...) and drops
unknown ones, so the model meets them as it would in real comments; ``strip`` drops them all;
``keep`` leaves the placeholders.

Repeats: 37 response texts appear twice (the same reply in GEN and RQ); one record is kept per text,
labels merged (a disagreement would become None). group = a hash of the quote, so replies to one post
share a split; id = ``sarcasm-v2-iac:<ID>``; lang ``en``; licence ``research-only`` (the repo's GPL
covers its code; upstream data terms are research use).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from ....model.record import CommentRecord
from ._common import (
    ConverterError,
    RecordMaker,
    clean_comment,
    clean_optional,
    read_csv,
    short_hash,
)
from ._dedup import merge_duplicates

SOURCE = "sarcasm-v2-iac"
LICENCE = "research-only"
FILE = "sarcasm_v2.csv"
CORPORA = ("GEN", "RQ", "HYP")
LABELS = {"sarc": 1, "notsarc": 0}
EMOTICON_MODES = ("emoji", "strip", "keep")
# vBulletin smiley names in the corpus -> the emoji they show
EMOTICONS = {
    "Rolleyes": "🙄",
    "Good": "👍",
    "Agree": "👍",
    "Angel": "😇",
    "Confused": "😕",
    "Banghead": "🤦",
    "Donno": "🤷",
    "Hoho": "😄",
    "Wow": "😮",
    "Frazzled": "😫",
    "Smilie": "🙂",
    "Chicken": "🐔",
    "Kill": "😡",
    "Censored": "🤬",
    "Clown": "🤡",
    "Bye": "👋",
    "Mad": "😠",
    "Angry": "😠",
    "Cry": "😢",
    "Idea": "💡",
    "Love": "❤️",
    "Cool": "😎",
    "Embarrassed": "😳",
}
_KNOWN = "|".join(sorted(EMOTICONS, key=len, reverse=True))
_EMOTICON = re.compile(rf"emoticonX(?:({_KNOWN})|[A-Z][a-z]*)")
_SPACES = re.compile(r"[ \t]{2,}")


def replace_emoticons(text: str, mode: str) -> str:
    """Forum smiley placeholders as emoji (``emoji``), removed (``strip``) or left (``keep``)."""
    if mode == "keep" or "emoticonX" not in text:
        return text

    def swap(match: re.Match[str]) -> str:
        name = match.group(1)
        return f" {EMOTICONS[name]} " if mode == "emoji" and name else " "

    out = _EMOTICON.sub(swap, text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in out.split("\n")).strip()


def _records(folder: Path, corpora: Sequence[str], emoticons: str) -> Iterator[CommentRecord]:
    path = Path(folder) / FILE
    required = ("Corpus", "Label", "ID", "Quote Text", "Response Text")
    records = RecordMaker(SOURCE, LICENCE, "en")
    for rowno, row in enumerate(read_csv(path, required), 1):
        if row["Corpus"].strip() not in corpora:
            continue
        label = row["Label"].strip()
        if label not in LABELS:
            raise ConverterError(f"{path}: data row {rowno}: Label is {label!r}; expected sarc or notsarc")
        text = replace_emoticons(clean_comment(row["Response Text"]), emoticons)
        if not text:
            continue
        quote = replace_emoticons(clean_comment(row["Quote Text"]), emoticons)
        record_id = row["ID"].strip() or f"row{rowno}"
        yield records.record(
            f"{SOURCE}:{record_id}",
            text,
            {"mocking": LABELS[label]},
            article_text=clean_optional(quote),
            group=f"{SOURCE}:quote-{short_hash(quote or text)}",
        )


def convert(
    folder: Path,
    *,
    corpora: Sequence[str] = CORPORA,
    emoticons: str = "emoji",
) -> Iterator[CommentRecord]:
    """Records from ``sarcasm_v2.csv`` in ``folder``; see the module docstring."""
    if bad := [c for c in corpora if c not in CORPORA]:
        raise ConverterError(f"unknown corpus/corpora {bad}; this dataset has {CORPORA}")
    if emoticons not in EMOTICON_MODES:
        raise ConverterError(f"emoticons is {emoticons!r}; use one of {EMOTICON_MODES}")
    yield from merge_duplicates(_records(folder, corpora, emoticons), key=lambda r: r.text)
