"""Scraped page text: find the article (title + body) and the comment section of a whole-page dump.

A crawler's plain-text dump holds navigation, donation bars, share buttons, the
article, "related news" lists and maybe a comment section. The rules, in order:

1. The comment section starts after the first run of comment-section markers
   (wpDiscuz "Notify of" / "Newest Most Voted" / "Inline Feedbacks" / "View all
   comments", Disqus "N comments" / "Sort by Best", generic "Comments",
   "Comentarii", "Коментарі", "Комментарии", "Leave a reply", ...). No marker:
   no comment section, zero comments.
2. It ends at a closing marker ("Would love your thoughts, please comment.x",
   "Load more comments", "Powered by Disqus", ...) or at the end of the file.
3. Inside it, comments are blocks separated by blank lines; UI lines (Reply,
   vote counts, "2 hours ago", dates) are dropped; a short name-like line
   before a comment is that comment's author.
4. Article body: paragraphs before the comment section with at least
   ``MIN_BODY_WORDS`` words (headline lists and captions are shorter).
   Title: the longest headline-like line (4-30 words, no final full stop)
   before the first body paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from commentmod.serving.readers.base import InputRecord, ReaderError, ReaderOptions

MIN_BODY_WORDS = 12

_COMMENT_WORDS = r"(comments?|comentari[iu]|коментар(і|ів|ия)?|комментари(и|ев|й)|kommentare?)"
START_MARKERS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"notify of",
        r"(oldest|newest|most voted)( (oldest|newest|most voted))*",
        r"inline feedbacks",
        r"view all comments",
        rf"\(?\d+\)?\s*{_COMMENT_WORDS}",
        rf"{_COMMENT_WORDS}\s*\(?\d*\)?:?",
        r"sort by (best|newest|oldest)",
        r"(leave|post|add|write) a (reply|comment)",
        r"las[ăa] un comentariu|adaug[ăa] (un )?comentariu|scrie un comentariu",
        r"залиш(ити|те) коментар|додати коментар|оставить комментарий|добавить комментарий",
        r"start the discussion.*|join the discussion.*|discussion",
        r"reader comments|what do you think\??|спільнота|обговорення|обсуждение",
    )
]
END_MARKERS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"would love your thoughts, please comment\.?x?",
        r"load more comments|show more comments|încarcă mai multe comentarii|показати більше коментарів|"
        r"показать больше комментариев",
        r"powered by disqus|disqus'? privacy policy|comments powered by .*",
        r"©.*|copyright .*|all rights reserved.*|toate drepturile rezervate.*",
    )
]
UI_LINES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"reply|răspunde|raspunde|відповісти|ответить|antworten|share ?›?|distribuie|report|raportează|"
        r"like|dislike|upvote|downvote|flag|edit|delete|login|log in|sign in|subscribe|guest|vote|"
        r"notify of|inline feedbacks|view all comments|newest most voted|oldest newest most voted|"
        r"show more replies|show replies|view replies|hide replies",
        r"[+\-−]?\s*\d+(\s*(votes?|likes?|voturi))?",
        r"(reply to|răspuns pentru|ответ для)\s+.{1,40}",
        r"(\d+|a|an|one)\s+(second|minute|hour|day|week|month|year)s?\s+ago",
        r"acum\s+\d+\s+(secunde|minute|ore|oră|zile|zi|săptămâni|luni|ani)",
        r"\d+\s+(секунд|хвилин|годин|днів|дні|день|минут|час|часа|часов|дней|дня)\w*\s+(тому|назад)",
        r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}([ ,]+\d{1,2}:\d{2})?",
        r"\d{1,2}\s+\w+\s+\d{4}([ ,]+(at|la|о|в)?\s*\d{1,2}:\d{2})?",
        r"\d{1,2}:\d{2}(\s*(am|pm))?",
    )
]
_SENTENCE_END = re.compile(r"[.!?…:;,)\"»”]$")
_EMOJI_OR_URL = re.compile(r"https?://|www\.|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_HAS_LETTER = re.compile(r"[^\W\d_]")


def _full(patterns: list[re.Pattern[str]], line: str) -> bool:
    return any(p.fullmatch(line) for p in patterns)


def _words(line: str) -> int:
    return len(line.split())


def _clean_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\ufeff", "")
    return [re.sub(r"[ \t\u2000-\u200b]+", " ", line).strip() for line in text.split("\n")]


@dataclass(frozen=True)
class PageComment:
    text: str
    author: str | None
    line: int  # 1-based line of the comment's first line


@dataclass(frozen=True)
class ParsedPage:
    title: str | None
    body: str | None
    comments: tuple[PageComment, ...]
    has_comment_section: bool


def _find_section(lines: list[str]) -> tuple[int, int] | None:
    """(first line after the start markers, end line) of the comment section, or None."""
    start = None
    for i, line in enumerate(lines):
        if line and _full(START_MARKERS, line):
            start = i
            break
    if start is None:
        return None
    j = start + 1
    while j < len(lines) and (not lines[j] or _full(START_MARKERS, lines[j]) or _full(UI_LINES, lines[j])):
        j += 1
    end = len(lines)
    for k in range(j, len(lines)):
        line = lines[k]
        if _full(END_MARKERS, line):
            end = k
            break
        # the closing marker may be glued to the last comment line
        m = re.search(r"would love your thoughts, please comment\.?x?$", line, re.IGNORECASE)
        if m:
            lines[k] = line[: m.start()].strip()
            end = k + 1
            break
    return j, end


def _is_author_like(line: str) -> bool:
    if not line or _words(line) > 4 or len(line) > 32:
        return False
    if _EMOJI_OR_URL.search(line) or not _HAS_LETTER.search(line):
        return False
    if re.search(r"[!?…:;,\"«»“”]", line):
        return False
    if line.endswith(".") and not re.search(r"\b\w\.$", line):  # "Andrei M." is a name
        return False
    first = line.lstrip("@")[:1]
    return first.isupper() or " " not in line


def _blocks(lines: list[str], start: int, end: int) -> list[tuple[int, list[str]]]:
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = start
    for i in range(start, end):
        line = lines[i]
        if not line or _full(UI_LINES, line) or _full(START_MARKERS, line):
            if current:
                blocks.append((first, current))
                current = []
            continue
        if not current:
            first = i
        current.append(line)
    if current:
        blocks.append((first, current))
    return blocks


def _comments(lines: list[str], start: int, end: int) -> list[PageComment]:
    blocks = _blocks(lines, start, end)
    out: list[PageComment] = []
    author: str | None = None
    for idx, (block_start, block_lines) in enumerate(blocks):
        first, block = block_start, block_lines
        nxt = blocks[idx + 1][1] if idx + 1 < len(blocks) else None
        if (
            len(block) == 1
            and _is_author_like(block[0])
            and nxt is not None
            and not (len(nxt) == 1 and _is_author_like(nxt[0]))
        ):
            author = block[0]
            continue
        if len(block) > 1 and _is_author_like(block[0]) and _words(" ".join(block[1:])) >= 3:
            author, block = block[0], block[1:]
            first += 1
        out.append(PageComment(text="\n".join(block), author=author, line=first + 1))
        author = None
    return out


def _article(lines: list[str], stop: int) -> tuple[str | None, str | None]:
    body_idx = [
        i
        for i in range(stop)
        if _words(lines[i]) >= MIN_BODY_WORDS
        and re.search(r"[.!?…\"”»]", lines[i])
        and not _full(START_MARKERS, lines[i])
    ]
    first_body = body_idx[0] if body_idx else stop
    candidates = [
        lines[i]
        for i in range(first_body)
        if 4 <= _words(lines[i]) <= 30
        and not lines[i].endswith(".")
        and not _EMOJI_OR_URL.search(lines[i])
        and not re.match(
            r"(click|distribuie|share|publicat|published|written by|by |foto|photo|updated)",
            lines[i],
            re.IGNORECASE,
        )
    ]
    title = max(candidates, key=lambda s: (lines[:first_body].count(s), len(s))) if candidates else None
    body = "\n".join(lines[i] for i in body_idx) or None
    return title, body


def parse_page(text: str) -> ParsedPage:
    """Article title/body and the comments of one scraped page (pure function)."""
    lines = _clean_lines(text)
    section = _find_section(lines)
    stop = len(lines) if section is None else section[0]
    # the article ends where the comment section's markers begin
    marker_start = stop
    if section is not None:
        marker_start = next(i for i in range(section[0]) if lines[i] and _full(START_MARKERS, lines[i]))
    title, body = _article(lines, marker_start)
    comments = () if section is None else tuple(_comments(lines, *section))
    return ParsedPage(title=title, body=body, comments=comments, has_comment_section=section is not None)


def read_page(path: Path, options: ReaderOptions = ReaderOptions()) -> Iterator[InputRecord]:
    """One record per comment found on the page; none when the page has no comment section."""
    source = str(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
    if "\x00" in text:
        raise ReaderError(f"{source}: looks like a binary file, not a page text dump")
    page = parse_page(text)
    for n, comment in enumerate(page.comments, start=1):
        yield InputRecord(
            id=f"{path.stem}#{n}",
            text=comment.text,
            source=source,
            location=f"{source}:{comment.line}",
            article_title=page.title,
            article_text=page.body,
            author=comment.author,
        )
