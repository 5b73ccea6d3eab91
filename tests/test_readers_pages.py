"""The page reader on comment layouts as crawlers dump them (wpDiscuz, Disqus embeds, WordPress
native comments, news-site comment blocks; en and ro), its limits, encodings and its cost."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import pytest

from commentmod.serving.readers import ReaderOptions, parse_page, read_file

PAGES = Path(__file__).parent / "data" / "pages"

# (fixture, title start, [(author, start of the comment text), ...])
LAYOUTS = [
    (
        "en-wpdiscuz.txt",  # structured: author / date / text / votes / Reply, replies "Reply to X"
        "Harbour Council Approves Ferry Fare",
        [
            ("merc the jerk", "Seven councillors who never take the ferry"),
            ("Kate Morrow", "Two of the seven live on the islands"),
            ("Islander Joe", "The season ticket rise is the real story."),
            (None, "These people are thieves and idiots"),  # "Anonymous"
            ("Sal", "Does anyone know if the 7:10 sailing"),
            ("rob w", "it is, but only Monday to Friday"),
        ],
    ),
    (
        "en-wpdiscuz-plain.txt",  # blocks only: short lowercase author lines, authorless comments
        "Night Bus Route 9 Will Stop Running",
        [
            ("merc the jerk", "I work nights at the hospital"),
            ("Jess in Eastfield", "An hour in advance is useless"),
            (None, "what a joke"),
            (None, "the board members all drive to work"),
            ("barry from the depot", "We have been short of drivers"),
            (None, "Ok so who do I write to about this?"),
            ("Northside Resident", "The minibus trial on the east side"),
            (None, "Cheap Flights Today"),
        ],
    ),
    (
        "ro-wpdiscuz-plain.txt",
        "Podul de la Socola se închide",
        [
            ("gica contra", "Patru luni pe hârtie"),
            ("Ioana M.", "Pasarela aia provizorie"),
            (None, "ce rușine"),
            (None, "Nu mai suport să stau o oră"),
            ("mos ion din deal", "Bravo primăriei"),
            (None, "Cine știe dacă 28 mai oprește"),
            ("cristi_cj", "Vând apartament 2 camere"),
        ],
    ),
    (
        "en-wpdiscuz-plain-2.txt",  # written after the rules, parsed right on the first try
        "Water Bills To Rise 12 Percent",
        [
            ("grumpy old man", "Twelve percent on top of"),
            ("the real deal", "An audit is the least"),
            ("k. jones", "Rita Gomez is the only one"),
            (None, "same story every year"),
            ("xXgamerXx", "lol the plant upgrade"),
            (None, "Does anyone know if seniors"),
        ],
    ),
    (
        "ro-wpdiscuz.txt",
        "Spitalul Județean închide secția de pediatrie",
        [
            ("mama lui Rareș", "Noaptea trecută am stat trei ore"),
            ("Dr. Pavel", "Vă înțeleg."),
            ("ionut_br", "Conducerea spitalului ar trebui"),
            (None, "Se știe dacă ambulanțele"),  # "Vizitator"
        ],
    ),
    (
        "en-disqus-embed.txt",  # author • date; a reply names the replied-to author under its own
        "Eastfield School Board Cancels Evening Adult Classes",
        [
            ("merc the jerk", "Six hundred people trying to better themselves"),
            ("Linda Park", "It is not pocket change"),
            ("TomR", "Helen Ortiz should resign."),
            (None, "My mother learned English"),  # "Guest"
            ("eastfield dad", "when is the next board meeting?"),
        ],
    ),
    (
        "ro-disqus-embed.txt",
        "Guvernul mută termenul pentru rovinieta electronică",
        [
            ("dorin_b", "Trei luni de amânare"),
            ("Mirela Stan", "La noi la benzinărie"),
            ("sofer profesionist", "Niște incompetenți"),
            (None, "Se aplică și pentru remorci"),
        ],
    ),
    (
        "en-wordpress-native.txt",  # "3 Comments" byline link above the article; "X says:" headers
        "Council Shelves Plan For Paid Parking On Main Street",
        [
            ("Margaret Lyons", "Good. Half the shops on Main Street"),
            ("merc the jerk", "Shelved means they will sneak it back"),
            ("Dev Patel", "The road repairs still need paying for"),
        ],
    ),
    (
        "ro-wordpress-native.txt",
        "Centrul istoric devine pietonal în weekend",
        [
            ("Elena Dragomir", "În sfârșit!"),
            ("badea gheorghe", "Și noi, bătrânii din centru"),
        ],
    ),
    (
        "en-news-cms.txt",  # "Name, date" and "Posted by Name on date" headers, "Report | Reply"
        "Leeds Tram Plan Delayed Again",
        [
            ("Jim from Leeds", "Forty years of tram plans"),
            ("Sandra K", "Buses would be cheaper"),
            (None, "Whoever signed off these cost estimates"),
            ("Paul Ridley", "Any news on whether the park and ride"),
            ("Leodis Lass", "Has anyone actually asked"),
        ],
    ),
    (
        "ro-news-cms-scris-de.txt",  # written after the rules: "Aprecieri: 6" and "anonim" needed a fix
        "Aeroportul din Arad primește zboruri",
        [
            ("Ovidiu P.", "Era și timpul"),
            (None, "20 de milioane pentru o pistă"),
            ("ghita din Micalaca", "Toți politicienii ăștia"),
            ("Lavinia", "Știe cineva dacă e autobuz"),
        ],
    ),
    (
        "ro-news-cms.txt",  # Îmi place / Nu-mi place counters, "2 răspunsuri", "Răspuns pentru X"
        "Biletul de autobuz se scumpește la 4 lei",
        [
            ("gigel_78", "Iar s-au scumpit biletele"),
            (None, "Pe linia 35 nu a mai circulat"),  # "Anonim"
            ("mos ion din deal", "Nici pe 24 nu circulă"),
            ("Corina Vlad", "Hoții ăștia din consiliu"),
            ("Vasile", "Pensionarii cu reducere"),
        ],
    ),
]

CHROME = (
    "Reply", "Răspunde", "Share", "Distribuie", "Report", "Like (", "Îmi place", "•", "Load more",
    "Încarcă", "Powered", "©", "Notify of", "Leave a Reply", "Lasă un răspuns", "Email", "comment.x",
    "Most Read", "Cele mai citite", "Avatar", "says:", "spune:", "Vizitator", "Guest", "Anonim",
    "Login", "Autentificare", "Feedback", "Oldest", "Sort by", "Sortează", "Aprecieri", "Scris de",
)  # fmt: skip
CHROME_LINE = re.compile(r"acum \w+ \w+|\d+ \w+ ago|[+\-−]?\d+|\d+ răspunsuri|edited|Author|2026.*")


@pytest.mark.parametrize(("name", "title_start", "expected"), LAYOUTS, ids=[x[0] for x in LAYOUTS])
def test_comment_layouts(name: str, title_start: str, expected: list[tuple[str | None, str]]) -> None:
    page = parse_page((PAGES / name).read_text(encoding="utf-8"))
    assert page.title is not None and page.title.startswith(title_start)
    assert page.body is not None and len(page.body) > 200
    got = [(c.author, c.text) for c in page.comments]
    assert [a for a, _t in got] == [a for a, _t in expected], got
    for (_a, text), (_e, start) in zip(got, expected, strict=True):
        assert text.startswith(start), (text, start)
        assert not any(ui in text for ui in CHROME), text
        assert not any(CHROME_LINE.fullmatch(line) for line in text.split("\n")), text
    authors = {a for a, _t in expected if a}
    assert not any(c.text in authors for c in page.comments)  # no author line emitted as a comment


def test_multi_paragraph_comments_stay_together_in_structured_layouts() -> None:
    wp = parse_page((PAGES / "en-wordpress-native.txt").read_text(encoding="utf-8"))
    assert wp.comments[2].text.endswith("before the spring meeting this time.")
    assert wp.comments[2].text.count("\n") == 1
    wpd = parse_page((PAGES / "en-wpdiscuz.txt").read_text(encoding="utf-8"))
    assert "Nobody on the mainland seems to care" in wpd.comments[2].text


def test_comment_lines_point_at_the_text(tmp_path: Path) -> None:
    path = PAGES / "en-news-cms.txt"
    lines = path.read_text(encoding="utf-8").split("\n")
    recs = list(read_file(path))
    for rec in recs:
        lineno = int(rec.location.rsplit(":", 1)[1])
        assert rec.text is not None and lines[lineno - 1] == rec.text.split("\n")[0]
    assert [r.id for r in recs] == [f"en-news-cms#{n}" for n in range(1, 6)]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            "A headline about the council budget this week\n\nOnly the article, no comments at all.\n",
            "no comment",
        ),
        ("Title of a page here today\n\nComments (0)\n\nBe the first to comment.\n", "empty comment section"),
    ],
)
def test_page_without_comments_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, why: str
) -> None:
    path = tmp_path / "news.txt"
    path.write_text(text, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="commentmod.serving.readers.page"):
        assert list(read_file(path)) == []
    assert any(str(path) in r.getMessage() and why in r.getMessage() for r in caplog.records)


def test_page_over_the_size_limit_is_one_error_record(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("Comments\n\n" + "you are an idiot\n\n" * 2000, encoding="utf-8")
    (rec,) = list(read_file(path, options=ReaderOptions(max_page_bytes=10_000)))
    assert rec.error is not None and "max_page_bytes" in rec.error and rec.location == str(path)
    assert len(list(read_file(path))) == 2000


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32", "utf-16-le"])
def test_page_encodings(tmp_path: Path, encoding: str) -> None:
    src = (PAGES / "ro-wordpress-native.txt").read_text(encoding="utf-8")
    path = tmp_path / "page.txt"
    path.write_bytes(src.encode(encoding))
    recs = list(read_file(path))
    assert [r.author for r in recs] == ["Elena Dragomir", "badea gheorghe"]
    assert recs[0].article_title == "Centrul istoric devine pietonal în weekend începând din decembrie"


def test_binary_page_is_an_error_record(tmp_path: Path) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(b"\x00\x01\x02 Comments \x00" * 100)
    (rec,) = list(read_file(path))
    assert rec.error is not None and "binary" in rec.error


def _headline_page(n_lines: int) -> str:
    words = [
        "Council",
        "Harbour",
        "Ferry",
        "Fares",
        "Bridge",
        "Night",
        "Bus",
        "Route",
        "Library",
        "Tram",
        "Plan",
        "Budget",
    ]
    lines = [
        " ".join(words[(i + k) % len(words)] for k in range(4 + i % 3)) + f" {i}" for i in range(n_lines)
    ]
    return "\n".join(lines) + "\n\nComments\n\nTomR\n\nthis is the only comment here\n"


def test_page_parse_is_linear_in_headline_lines() -> None:
    # the old reader counted every headline-like line against all others: 1 MB took 31 s
    small, large = _headline_page(5_000), _headline_page(40_000)
    t0 = time.perf_counter()
    parse_page(small)
    t_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    page = parse_page(large)
    t_large = time.perf_counter() - t0
    assert len(large) > 1_000_000
    assert [c.author for c in page.comments] == ["TomR"]
    assert t_large < 10.0 and t_large < 40 * max(t_small, 0.01)  # 8x the input: linear ~8x, quadratic 64x
