"""Scraped page text: find the article (title + body) and the comment section of a whole-page dump.

A crawler's plain-text dump holds navigation, donation bars, share buttons, the article,
"related news" lists and maybe a comment section. The rules (line rules in
:mod:`commentmod.serving.readers.page_rules`), each linear in the page:

1. The comment section starts at a run of section markers (wpDiscuz "Notify of" / "Newest
   Most Voted", Disqus "N Comments" / "Sort by Best", WordPress "3 thoughts on “…”", "Comentarii
   (5)", ...). A marker before the article body (a "3 Comments" byline link) gives way to one
   after it; bare words such as "Comments" count only when no stronger marker exists. No marker:
   no comment section, zero comments.
2. It ends at a closing marker ("Would love your thoughts, please comment.x", "Load more
   comments", "Powered by Disqus", "Related posts", "©", ...), at a comment-form line once some
   comment text was seen ("Leave a Reply", "Your email address will not be published"), or at
   the end of the file.
3. Structured layouts - an author line followed by its date ("merc the jerk" / "2 years ago"),
   or a header line ("Ana says:", "Ana • 2 days ago", "Posted by Ana on 3 May 2026") - are read
   header by header: a comment is the text between its header and its footer (Reply, votes) or
   the next header, paragraphs kept together. Otherwise comments are blocks separated by blank
   lines and chrome lines, and a short name-like line before a comment (no sentence words:
   "merc the jerk" is a name, "what a joke" a comment) is that comment's author.
4. Article body: paragraphs before the comment section with at least ``MIN_BODY_WORDS`` words
   (headline lists and captions are shorter). Title: the headline-like line (4-30 words, no
   final full stop) before the first body paragraph that is repeated most, then the longest.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import page_rules as rules
from .base import InputRecord, ReaderOptions, cap, error_record
from .meter import ReadMeter
from .textio import decode_text

log = logging.getLogger(__name__)

MIN_BODY_WORDS = 12
_GLUED_END = re.compile(r"would love your thoughts, please comment\.?x?$", re.IGNORECASE)
_SENTENCE_MARK = re.compile(r"[.!?…\"”»]")
_ODD_SPACE = re.compile(r"[\t\u2000-\u200b\u3000]")
_SPACE_TABLE = {ord("\t"): " ", 0x3000: " ", **{c: " " for c in range(0x2000, 0x200C)}}
_NOT_TITLE = re.compile(
    r"(click|distribuie|share|publicat|published|written by|by |foto|photo|updated)", re.IGNORECASE
)

TEXT, HEADER, DATE, BADGE, FOOTER, UI, BLANK = "text", "header", "date", "badge", "footer", "ui", "blank"


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


def _squeeze(line: str) -> str:
    """Runs of spaces (tabs, Unicode spaces) as one space, stripped; one new string per pass, not
    one per match, so a 50 MB line costs a few copies of itself."""
    if _ODD_SPACE.search(line):
        line = line.translate(_SPACE_TABLE)
    while "  " in line:
        line = line.replace("  ", " ")
    return line.strip()


def _clean_lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\ufeff", "")
    return [_squeeze(line) for line in text.split("\n")]


def _words(line: str) -> int:
    """Words of a cleaned line (single spaces, stripped), without splitting it."""
    return line.count(" ") + 1 if line else 0


def _is_body(line: str) -> bool:
    return (
        len(line) >= 2 * MIN_BODY_WORDS
        and _words(line) >= MIN_BODY_WORDS
        and bool(_SENTENCE_MARK.search(line))
    )


def _is_start(line: str) -> bool:
    return bool(line) and (
        rules.STRONG_START.fullmatch(line) is not None or rules.WEAK_START.fullmatch(line) is not None
    )


def _pick_start(candidates: list[int], first_body: int | None, lines: list[str]) -> int | None:
    """The first candidate, unless it precedes the article body and another one follows it."""
    if not candidates:
        return None
    if first_body is not None and candidates[0] < first_body:
        later = [i for i in candidates if i > first_body and rules.FORM_START.fullmatch(lines[i]) is None]
        if later:
            return later[0]
    return candidates[0]


def _find_section(lines: list[str]) -> tuple[int, int, int] | None:
    """(marker line, first line after the markers, end line) of the comment section, or None."""
    strong, weak = [], []
    first_body = None
    for i, line in enumerate(lines):
        if not line:
            continue
        if rules.STRONG_START.fullmatch(line):
            strong.append(i)
        elif rules.WEAK_START.fullmatch(line):
            weak.append(i)
        elif first_body is None and _is_body(line):
            first_body = i
    start = _pick_start(strong, first_body, lines)
    if start is None:
        start = _pick_start(weak, first_body, lines)
    if start is None:
        return None
    j = start + 1
    while j < len(lines) and (not lines[j] or _is_start(lines[j]) or _kind(lines[j]) not in (TEXT, HEADER)):
        j += 1
    end = len(lines)
    seen_text = False
    for k in range(j, len(lines)):
        line = lines[k]
        if rules.END.fullmatch(line) or (seen_text and rules.FORM_START.fullmatch(line)):
            end = k
            break
        m = _GLUED_END.search(line)  # the closing marker may be glued to the last comment line
        if m:
            lines[k] = line[: m.start()].strip()
            end = k + 1
            break
        seen_text = seen_text or _kind(line) in (TEXT, HEADER)
    return start, j, end


def _kind(line: str) -> str:
    if not line:
        return BLANK
    if rules.DATE.fullmatch(line):
        return DATE
    if rules.BADGE.fullmatch(line):
        return BADGE
    if rules.FOOTER.fullmatch(line):
        return FOOTER
    if (
        rules.OTHER_UI.fullmatch(line)
        or rules.FORM.fullmatch(line)
        or rules.STRONG_START.fullmatch(line)
        or rules.WEAK_START.fullmatch(line)
    ):
        return UI
    if rules.is_header(line):
        return HEADER
    return TEXT


@dataclass
class _Draft:
    author: str | None
    lines: list[str]
    first: int


def _structured_authors(toks: list[tuple[int, str, str]]) -> tuple[dict[int, str | None], set[int], int]:
    """Author lines confirmed by the date after them: {token: author}, reply-to tokens, dates seen."""
    authors: dict[int, str | None] = {}
    reply_to: set[int] = set()
    dates = 0
    for d, (_i, kind, _line) in enumerate(toks):
        if kind != DATE:
            continue
        dates += 1
        p = d - 1
        while p >= 0 and toks[p][1] == BADGE:
            p -= 1
        if p < 0 or toks[p][1] != TEXT or not rules.name_like(toks[p][2], strict=False):
            continue
        q = p - 1
        while q >= 0 and toks[q][1] == BADGE:
            q -= 1
        r = q - 1
        while r >= 0 and toks[r][1] == BADGE:
            r -= 1
        before_q = toks[r][1] if r >= 0 else UI
        if (
            q >= 0
            and toks[q][1] == TEXT
            and rules.name_like(toks[q][2], strict=False)
            and before_q in (FOOTER, UI)
        ):
            authors[q] = rules.author_name(toks[q][2])  # "Jane Doe" / "merc the jerk" (replied to) / date
            reply_to.add(p)
        else:
            authors[p] = rules.author_name(toks[p][2])
    return authors, reply_to, dates


def _structured(
    toks: list[tuple[int, str, str]], authors: dict[int, str | None], skip: set[int]
) -> list[PageComment]:
    """Comments header by header; text before the first header is section chrome (a Disqus
    forum name), text after a footer without a header of its own is an authorless comment."""
    out: list[PageComment] = []
    draft: _Draft | None = None
    seen_header = False

    def flush() -> None:
        if draft is not None and draft.lines:
            out.append(PageComment("\n".join(draft.lines), draft.author, draft.first + 1))

    for t, (i, kind, line) in enumerate(toks):
        if t in skip:
            continue
        if t in authors or kind == HEADER:
            flush()
            author = authors[t] if t in authors else rules.header_author(line)
            draft, seen_header = _Draft(author, [], i), True
        elif kind == FOOTER:
            flush()
            draft = None
        elif kind == TEXT and seen_header:
            if draft is None:
                draft = _Draft(None, [], i)
            if not draft.lines:
                draft.first = i
            draft.lines.append(line)
    flush()
    return out


def _blocks(toks: list[tuple[int, str, str]], lines: list[str]) -> list[tuple[int, list[str], str | None]]:
    """Blank-line separated blocks of text lines: (first line, lines, author from a header line)."""
    blocks: list[tuple[int, list[str], str | None]] = []
    current: list[str] = []
    first, header = 0, None
    prev = -2
    for i, kind, line in toks:
        if current and (kind != TEXT or i != prev + 1):
            blocks.append((first, current, header))
            current, header = [], None
        if kind == HEADER:
            header = rules.header_author(line)
        elif kind == TEXT:
            if not current:
                first = i
            current.append(line)
            prev = i
    if current:
        blocks.append((first, current, header))
    return blocks


def _unstructured(toks: list[tuple[int, str, str]], lines: list[str]) -> list[PageComment]:
    blocks = _blocks(toks, lines)
    out: list[PageComment] = []
    author: str | None = None
    for idx, (first, block, header) in enumerate(blocks):
        author = header or author
        nxt = blocks[idx + 1] if idx + 1 < len(blocks) else None
        single_name = len(block) == 1 and rules.name_like(block[0], strict=True)
        if (
            single_name
            and header is None
            and nxt is not None
            and nxt[2] is None
            and not (len(nxt[1]) == 1 and rules.name_like(nxt[1][0], strict=True))
        ):
            author = rules.author_name(block[0])
            continue
        text_lines, text_first = block, first
        if len(block) > 1 and rules.name_like(block[0], strict=True) and _words(" ".join(block[1:])) >= 3:
            author, text_lines, text_first = rules.author_name(block[0]), block[1:], first + 1
        out.append(PageComment(text="\n".join(text_lines), author=author, line=text_first + 1))
        author = None
    return out


def _comments(lines: list[str], start: int, end: int) -> list[PageComment]:
    toks = [(i, k, lines[i]) for i in range(start, end) if (k := _kind(lines[i])) != BLANK]
    authors, reply_to, dates = _structured_authors(toks)
    headers = sum(1 for _i, k, _l in toks if k == HEADER)
    confirmed = len(authors) + headers
    if confirmed and confirmed * 2 >= dates + headers:
        return _structured(toks, authors, reply_to)
    return _unstructured(toks, lines)


def _article(lines: list[str], stop: int) -> tuple[str | None, str | None]:
    body_idx = [i for i in range(stop) if _is_body(lines[i]) and not _is_start(lines[i])]
    first_body = body_idx[0] if body_idx else stop
    head = lines[:first_body]
    counts = Counter(head)
    candidates = {
        line
        for line in head
        if 4 <= _words(line) <= 30
        and not line.endswith(".")
        and not rules._EMOJI_OR_URL.search(line)
        and not _NOT_TITLE.match(line)
    }
    title = max(candidates, key=lambda s: (counts[s], len(s), s)) if candidates else None
    body = "\n".join(lines[i] for i in body_idx) or None
    return title, body


def parse_page(text: str) -> ParsedPage:
    """Article title/body and the comments of one scraped page (pure function, linear time)."""
    lines = _clean_lines(text)
    section = _find_section(lines)
    title, body = _article(lines, len(lines) if section is None else section[0])
    comments = () if section is None else tuple(_comments(lines, section[1], section[2]))
    return ParsedPage(title=title, body=body, comments=comments, has_comment_section=section is not None)


def read_page(
    path: Path, options: ReaderOptions = ReaderOptions(), *, meter: ReadMeter | None = None
) -> Iterator[InputRecord]:
    """One record per comment found on the page; none when it has none (logged as a warning
    naming the file, with the reason: no comment section found, or an empty one)."""
    source = str(path)
    size = path.stat().st_size
    if size > options.max_page_bytes:
        yield error_record(
            source,
            source,
            f"could not read the file: the page is {size:,} bytes, over the limit of "
            f"{options.max_page_bytes:,} (max_page_bytes)",
        )
        return
    with path.open("rb") as fh:
        if meter is not None:
            meter.watch(fh)
        text = decode_text(fh.read(options.max_page_bytes))
    if "\x00" in text:
        yield error_record(source, source, "could not read the file: it looks binary, not a page text dump")
        return
    page = parse_page(text)
    if not page.comments:
        why = "an empty comment section" if page.has_comment_section else "no comment section found"
        log.warning(
            "%s: no comments found on this page (%s): 0 rows; check it is a page text dump that "
            "includes its comment section",
            source,
            why,
        )
    title, body = cap(page.title, options.max_context_chars), cap(page.body, options.max_context_chars)
    for n, comment in enumerate(page.comments, start=1):
        yield InputRecord(
            id=f"{path.stem}#{n}",
            text=comment.text,
            source=source,
            location=f"{source}:{comment.line}",
            article_title=title,
            article_text=body,
            author=comment.author,
        )
