"""Line rules of the page reader: what a line of a crawler's text dump of a comment section is.

Every rule is a full-line regular expression without nested quantifiers, applied once per
line, so classifying a page is linear in its size. Languages: en, ro, ru, uk (and a few de).
Layouts covered: wpDiscuz, Disqus embeds, WordPress native comments, news-site comment blocks.
"""

from __future__ import annotations

import re

_COMMENT_WORDS = r"(comments?|comentari[iu]|коментар(і|ів|ия|ій)?|комментари(и|ев|й)|kommentare?)"
_N = r"(\d+|one|two|three|un|o|una|doi|două|trei)"
_RO_SORT = r"cel mai nou|cel mai vechi|cele mai (votate|noi|vechi)"
_FOOTER_WORD = r"reply|report|share ?›?|like|dislike|flag|r[ăa]spunde|raporteaz[ăa]|distribuie ?›?"


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


# Start of a comment section. Strong: only a comment section says this.
STRONG_START = _rx(
    r"notify of",
    r"(oldest|newest|most voted)( (oldest|newest|most voted))*",
    r"inline feedbacks",
    r"view all comments",
    r"notific[ăa](-m[ăa])?( (despre|la|de))?|feedback-uri (inline|[îi]n linie)|vezi toate comentariile",
    rf"({_RO_SORT})( ({_RO_SORT}))*",
    rf"\(?\d+\)?\s*(reader |user )?{_COMMENT_WORDS}",
    rf"(reader |user )?{_COMMENT_WORDS}\s*\(\d+\):?",
    r"sort by (best|newest|oldest|top)",
    r"(leave|post|add|write) a (reply|comment)( cancel reply)?",
    r"las[ăa] un (comentariu|r[ăa]spuns)( anuleaz[ăa] r[ăa]spunsul)?|adaug[ăa] (un )?comentariu|"
    r"scrie un comentariu",
    r"залиш(ити|те) коментар|додати коментар|оставить комментарий|добавить комментарий",
    r"(start|join) the discussion.*",
    rf"{_N}\s+(thoughts?|responses?|replies|reply|comments?)\s+(on|to)\s+.+",
    rf"{_N}\s+(g[âa]nd(uri)?|r[ăa]spuns(uri)?|comentari[iu])\s+(despre|la|pentru)\s+.+",
)
# Start, but also an ordinary word: a weak marker (a menu item, a byline link)
WEAK_START = _rx(
    rf"(reader |user )?{_COMMENT_WORDS}:?",
    r"discussion|discuții|discutii|обсуждение|обговорення|спільнота",
    r"reader comments|what do you think\??|ce părere ai\??|ce parere ai\??",
)
# End of the comment section (anywhere after its start)
END = _rx(
    r"would love your thoughts, please comment\.?x?",
    r"load more comments|show more comments|(vezi|încarcă|incarca) mai multe comentarii|"
    r"mai multe comentarii|показати більше коментарів|показать больше комментариев",
    r"powered by disqus|disqus'? privacy policy|comments powered by .*|add disqus to your site.*|"
    r"do not sell my (personal )?data",
    r"©.*|\(c\) \d{4}.*|copyright .*|all rights reserved.*|toate drepturile rezervate.*|"
    r"все права защищены.*|усі права захищені.*",
    r"related( posts| articles| news| stories)?:?|more stories|you may also like|recommended( for you)?|"
    r"most read|most popular|popular posts|trending( now)?|latest news|more from .{1,40}",
    r"articole similare|cele mai citite|citește și:?|citeste si:?|recomandări|ultimele știri|știri recente",
    r"читайте також:?|читайте также:?|похожие новости|популярное|найпопулярніше",
)
# The first line of a comment form: the end of the section once some comment text was seen
FORM_START = _rx(
    r"(leave|post|add|write) a (reply|comment)( cancel reply)?|cancel reply",
    r"las[ăa] un (comentariu|r[ăa]spuns)( anuleaz[ăa] r[ăa]spunsul)?|anuleaz[ăa] r[ăa]spunsul",
    r"(your )?e-?mail address will not be published.*|adresa ta de e-?mail nu va fi publicat[ăa].*",
    r"(please )?log ?in to comment.*|you must be (logged in|registered).*|"
    r"trebuie s[ăa] fii (autentificat|logat).*",
)
# Comment form lines: skipped wherever they are
FORM = _rx(
    FORM_START.pattern,
    r"required fields are marked.*|c[âa]mpurile obligatorii sunt marcate.*",
    r"save my name, e-?mail, and website.*|salveaz[ăa].{0,5} numele, e-?mailul.*",
    r"(name|nume|e-?mail|website|site( web)?|comment|comentariu|mesaj|message)\s*\*?( \(.{1,40}\))?",
    r"post comment|submit( comment)?|trimite( comentariul)?|public[ăa]( comentariul)?|"
    r"adaug[ăa] comentariul|send|отправить|надіслати",
    r"i allow to create an account.*|when you login first time.*|label|\{\} ?\[\+\]|\[\+\]",
    r"log in with|or sign up with disqus.*|be the first to comment\.?|fii primul care comenteaz[ăa].*",
    r"have your say|spune-ți părerea|spune-ti parerea",
    r"al[ăa]tur[ăa]-te discu[țt]iei.*|[îi]ncepe discu[țt]ia.*",
    r"agree|disagree|i agree|sunt de acord|nu sunt de acord",
)
_MONTH = r"[^\W\d_]{3,10}\.?"
_TIME = r"\d{1,2}:\d{2}(:\d{2})?(\s*[ap]\.?m\.?)?"
_AT = r"(,|\bat\b|\bla\b|\bora\b|\bla ora\b|\bо\b|\bв\b|@)?"
_AGO_UNIT = (
    r"(second|sec|minute|min|hour|hr|day|week|month|year)s?|"
    r"secunde|secundă|secunda|minute|minut|ore|oră|ora|zile|zi|săptămâni|săptămână|saptamani|luni|lună|luna|"
    r"ani|an"
)
DATE = _rx(
    rf"(about |over |almost )?(\d+|a|an|one)\s+({_AGO_UNIT})\s+ago",
    rf"acum\s+(\d+|o|un|câteva|cateva|aproximativ \d+)\s+({_AGO_UNIT})",
    r"\d+\s+(секунд|хвилин|годин|днів|дні|день|тижн|місяц|рок|минут|час|дн|недел|месяц|год|лет)\w*\s+"
    r"(тому|назад)",
    rf"(just now|now|yesterday|today|ieri|azi|astăzi|astazi|chiar acum|adineauri|вчера|сегодня|щойно|"
    rf"вчора|сьогодні)(\s*{_AT}\s*{_TIME})?",
    rf"\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}}(\s*{_AT}\s*{_TIME})?",
    rf"\d{{4}}-\d{{2}}-\d{{2}}([ T]{_TIME})?",
    rf"({_MONTH},?\s+)?\d{{1,2}}\s+{_MONTH},?\s+\d{{4}}(\s*{_AT}\s*{_TIME})?",
    rf"({_MONTH},?\s+)?{_MONTH}\s+\d{{1,2}}(st|nd|rd|th)?,?\s+\d{{4}}(\s*{_AT}\s*{_TIME})?",
    _TIME,
)
# Lines of the comment chrome that may stand between an author line and its date
BADGE = _rx(
    r"[•·|–—\-]",
    r"author|admin|administrator|member|editor|moderator|guest|vizitator|autor|membru|redac[țt]ia|"
    r"verified|top comment|pinned|featured|staff|subscriber|abonat|avatar|\(edited\)|edited|editat",
    r"(in )?reply to .{1,40}|r[ăa]spun(s|de) (pentru|la|c[ăa]tre) .{1,40}|ответ для .{1,40}|"
    r"відповідь для .{1,40}",
)
# Lines that end a comment in structured layouts (its footer: reply button, votes, share)
FOOTER = _rx(
    r"reply|r[ăa]spunde|відповісти|ответить|antworten|share ?›?|distribuie ?›?|report|raporteaz[ăa]|"
    r"semnaleaz[ăa]|flag|like|dislike|upvote|downvote|vote up|vote down|îmi place|imi place|"
    r"nu-mi place|apreciaz[ăa]|recommend|favorite|favorit|recomand[ăa]",
    rf"({_FOOTER_WORD})(\s*[|•·/]\s*({_FOOTER_WORD}))+",
    r"[+\-−±]?\s*\d+(\s*(votes?|likes?|dislikes?|voturi|aprecieri|points?|puncte))?",
    r"(👍|👎|▲|▼|↑|↓|⬆|⬇|\^)\s*\d*(\s*(👍|👎|▲|▼|↑|↓|⬆|⬇|\^)\s*\d*)?",
    r"\d+\s*(👍|👎)(\s*\d+\s*(👍|👎))?",
    r"(like|dislike|îmi place|imi place|nu-mi place|apreciaz[ăa])\s*[(\[]?\d+[)\]]?"
    r"(\s*(like|dislike|îmi place|imi place|nu-mi place)\s*[(\[]?\d+[)\]]?)?",
    r"\d+\s*\|\s*\d+",
    r"(aprecieri|likes?|dislikes?|voturi|votes?|puncte|points?|scor|score|rating|рейтинг)\s*:?\s*[+\-−]?\d+",
    r"(reply|r[ăa]spunde)\s*[•·|]\s*(share ?›?|distribuie)",
)
# Other chrome inside a comment section: dropped wherever it is
OTHER_UI = _rx(
    r"edit|delete|login|log in|sign in|sign up|subscribe|abonează-te|aboneaza-te|vote|notify of|"
    r"autentificare|conectare|intr[ăa] [îi]n cont|privacy|confiden[țt]ialitate|"
    r"inline feedbacks|view all comments|newest most voted|oldest newest most voted|"
    r"show more replies|show replies|view replies|hide replies|read more|show more|see more|"
    r"citește mai mult|citeste mai mult|vezi mai mult|tweet|says:|spune:|пише:|пишет:",
    r"(view|show|hide|load|see)\s+(\d+\s+)?(more\s+)?(replies|reply|r[ăa]spunsuri)(\s*\(\d+\))?",
    r"\d+\s+(replies|reply|r[ăa]spunsuri|r[ăa]spuns|ответ(а|ов)?|відповід\w*)",
    r"(vezi|ascunde|arat[ăa]|încarc[ăa]|incarca)\s+(\d+\s+)?(mai multe\s+)?(r[ăa]spunsuri|r[ăa]spunsul|"
    r"comentariile)(\s*\(\d+\))?",
    r"last edited .{1,60}|"
    r"(this|acest) (comment|comentariu) (was|has been|a fost) (deleted|removed|șters|sters).*|"
    r"comentariu (șters|sters).*|sort by .{1,20}|sorteaz[ăa] dup[ăa] .{1,30}|\d+ favorites?",
)
# "NAME says:" / "Posted by NAME on DATE" / "NAME • DATE" / "NAME, DATE" / "NAME | DATE"
_SAYS = re.compile(
    r"(?P<name>.{1,40}?)\s+(says|said|wrote|spune|a spus|a scris|scrie|пише|написав|написала|пишет|"
    r"написал|schreibt)\s*:?",
    re.IGNORECASE,
)
_POSTED_BY = re.compile(
    r"(posted|written|commented|comment|postat|scris|trimis|ad[ăa]ugat)\s+(by|de( c[ăa]tre)?)\s+"
    r"(?P<name>.{1,40}?)(\s+(on|at|pe|la|în|in)\s+(?P<date>.{4,60}))?",
    re.IGNORECASE,
)
_NAME_DATE = re.compile(r"(?P<name>[^•·|,]{1,40}?)\s*([•·|,]|\s[-–—]\s)\s*(?P<date>.{3,60})")

_EMOJI_OR_URL = re.compile(r"https?://|www\.|@\w+\.\w|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_URL = re.compile(r"https?://|www\.|@\w+\.\w")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_PUNCT = re.compile(r"[!?…:;,\"«»“”„{}<>=*/\\]")
_PUNCT_STRICT = re.compile(r"[!?…:;,\"«»“”„()\[\]{}<>=*/\\]")
_INITIAL_END = re.compile(r"\b\w\.$")
# Words of a sentence, not of a name: a short line holding one is a short comment
_SENTENCE_TEXT = """
    i i'm im you your you're he she it it's we they this that these those is are was were be been am
    do does did don't dont not no yes yeah lol lmao omg wow so very too just what why how who when
    where can could will would should must have has had agree true thanks thank please hello hi great
    good bad nice well oh ok okay same me my our their there here all nothing never really haha shame
    eu tu el ea noi voi ei ele e este sunt ești esti era nu da ce cine cum când cand unde asta ăsta
    aia ăla acesta aceasta foarte mai doar chiar bravo felicitări felicitari mersi mulțumesc
    multumesc salut bună buna bine rău rau hai vai deci dar și si am ai are au avem fost fi
    я ты он она мы вы они это не да нет что как так ну все всё уже ещё тут там це що як ні він вона
    ми ви вони є був була
"""
SENTENCE_WORDS = frozenset(_SENTENCE_TEXT.split())
_ANONYMOUS_TEXT = "anonymous anonim anonima anonimă guest vizitator аноним анонім гость гість"
ANONYMOUS = frozenset(_ANONYMOUS_TEXT.split())


def is_date(line: str) -> bool:
    return DATE.fullmatch(line) is not None


def name_like(line: str, strict: bool) -> bool:
    """Could this short line be a commenter's name? ``strict`` (no date or header to confirm it):
    at most 4 words, no emoji or brackets, and no word of a sentence ("so true", "what a joke" are
    comments); confirmed by a date: at most 5 words, may hold an emoji or "(Cluj)"."""
    max_words, max_len = (4, 32) if strict else (5, 40)
    if not line or len(line) > max_len or len(line.split()) > max_words:
        return False
    if not _HAS_LETTER.search(line) or (_PUNCT_STRICT if strict else _PUNCT).search(line):
        return False
    if (_EMOJI_OR_URL if strict else _URL).search(line):  # a confirmed name may hold an emoji
        return False
    if line.endswith(".") and not _INITIAL_END.search(line):  # "Andrei M." is a name
        return False
    if strict:
        words = {w.strip(".'’-_").lower() for w in line.lstrip("@").split()}
        if words & SENTENCE_WORDS:
            return False
    return True


def header_author(line: str) -> str | None:
    """The commenter of a header line ("Ana says:", "Posted by Ana on 3 May 2026", "Ana • 2 days
    ago", "Ana, 14.11.2026 10:02"); None when it is anonymous or the line is not a header."""
    name = _header_name(line)
    return None if name is None else author_name(name)


def _header_name(line: str) -> str | None:
    m = _SAYS.fullmatch(line)
    if m and name_like(m["name"], strict=False):
        return m["name"]
    m = _POSTED_BY.fullmatch(line)
    if m and name_like(m["name"], strict=False) and (m["date"] is None or is_date(m["date"])):
        return m["name"]
    m = _NAME_DATE.fullmatch(line)
    if m and is_date(m["date"].strip()) and name_like(m["name"].strip(), strict=False):
        return m["name"].strip()
    return None


def is_header(line: str) -> bool:
    return len(line) <= 120 and _header_name(line) is not None


def author_name(line: str) -> str | None:
    """The author a name line stands for (None for "Anonymous", "Guest" ...)."""
    name = line.strip()
    return None if name.lower() in ANONYMOUS else name
