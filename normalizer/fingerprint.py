"""Comparison form of a complaint text and the similarity of two of them (near-duplicate detection).

Only for comparison: the report keeps the citizen's words as sent. The comparison form drops
what changes between two sendings of one complaint but not its meaning: case, punctuation,
emoji, greetings and sign-offs, SMS abbreviations (expanded), repeated letters, email quote
marks, forwarding banners and header lines. A forward, or a short note on a quoted complaint,
is compared by the quoted complaint; a reply with words of its own by those words.
Similarity is the Jaccard index of character 4-grams (typo tolerant), or the containment of
a slightly shorter text in a longer one (a resend with a line added), or, when the shorter
looks cut at the 160-character SMS limit, the Jaccard index against the longer one's start.
Two texts that name different streets, villages or house/RT/RW numbers are never similar: a
false merge hides a distinct complaint, so those guards come before any score."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache

from normalizer.draft import Draft

SHINGLE = 4
SMS_LIMIT = 160
# A text this long, up to SMS_LIMIT, may be a resend the carrier or phone cut at 160 characters.
TRUNCATED_MIN = 120
# Fewer content words than this ("jalan rusak", "lampu mati") says too little to tell two
# complaints apart, so such texts are never linked to anything.
MIN_TOKENS = 5
MAX_COMPARED = 8000  # characters of a body (a 25 MB mail must not stall the event loop)
# Containment counts when the shorter text is at least this share of the longer one and this
# much of it appears there (tuned on tests/dedup/pairs.jsonl).
CONTAINED_RATIO = 0.6
CONTAINED = 0.9

ABBREVIATIONS: dict[str, str] = {
    "yg": "yang", "tdk": "tidak", "tak": "tidak", "gk": "tidak", "gak": "tidak", "ga": "tidak", "nggak": "tidak",
    "ngga": "tidak", "enggak": "tidak", "engga": "tidak", "g": "tidak", "dgn": "dengan", "dg": "dengan",
    "jln": "jalan", "jl": "jalan", "jalan": "jalan", "kec": "kecamatan", "kel": "kelurahan", "kab": "kabupaten",
    "ds": "desa", "gg": "gang", "perum": "perumahan", "komp": "komplek", "kompleks": "komplek",
    "sdh": "sudah", "udh": "sudah", "udah": "sudah", "dah": "sudah", "blm": "belum", "blum": "belum",
    "utk": "untuk", "untk": "untuk", "krn": "karena", "krna": "karena", "karna": "karena", "bgt": "banget",
    "dr": "dari", "sy": "saya", "sya": "saya", "aku": "saya", "gw": "saya", "gue": "saya", "kmi": "kami",
    "kmai": "kami", "tlg": "tolong", "mhn": "mohon", "trs": "terus", "trus": "terus", "org": "orang",
    "bs": "bisa", "jg": "juga", "lg": "lagi", "hr": "hari", "bln": "bulan", "thn": "tahun", "th": "tahun",
    "skrg": "sekarang", "skrang": "sekarang", "tp": "tapi", "sm": "sama", "dpn": "depan", "dpan": "depan",
    "blkg": "belakang", "rmh": "rumah", "kalo": "kalau", "klo": "kalau", "kl": "kalau", "pd": "pada",
    "dlm": "dalam", "lbh": "lebih", "sblm": "sebelum", "stlh": "setelah", "sgr": "segera", "no": "nomor",
    "nmr": "nomor", "nmor": "nomor", "kmrn": "kemarin", "kmrin": "kemarin", "tsb": "tersebut", "dri": "dari",
    "mslh": "masalah", "bnyk": "banyak", "byk": "banyak", "sampe": "sampai", "sampek": "sampai",
    "hrs": "harus", "msh": "masih", "masi": "masih", "sdg": "sedang", "lgsg": "langsung", "dket": "dekat",
    "dkt": "dekat", "bsk": "besok", "mgg": "minggu", "mgu": "minggu", "bbrp": "beberapa", "knp": "kenapa",
    "gmn": "bagaimana", "gimana": "bagaimana", "pdhl": "padahal", "spt": "seperti", "kyk": "seperti",
    "dll": "dan lain lain", "dsb": "dan sebagainya", "jd": "jadi", "jdi": "jadi",
    "bener": "benar", "bnr": "benar", "smua": "semua", "smw": "semua", "sblh": "sebelah", "lwt": "lewat",
    "mlm": "malam", "pgi": "pagi", "ank": "anak", "wrg": "warga", "prov": "provinsi",
}
# Words that carry no complaint content and would make any two complaints look alike.
STOPWORDS = frozenset(
    "di ke dari yang dan ini itu ada untuk dengan karena juga dong nih sih ya kok lah pun deh kah nya "
    "mohon tolong segera pak bu bapak ibu min admin kak mas mbak bang om sdr saudara yth kepada "
    "the a an of and to is in on at for please sir madam".split()
)
# Phrases of courtesy that open or close a message (matched on whole words, after expansion).
GREETINGS = (
    "assalamualaikum warahmatullahi wabarakatuh", "assalamualaikum wr wb", "assalamualaikum wr. wb",
    "assalamu alaikum", "assalamualaikum", "asslamualaikum", "assalamu'alaikum", "salam sejahtera",
    "selamat pagi", "selamat siang", "selamat sore", "selamat malam", "salam sejahtera", "dengan hormat",
    "salam", "halo", "hallo", "hai", "hi", "hello", "permisi", "good morning", "good afternoon",
    "good evening", "dear", "pagi", "siang", "malam", "om swastiastu", "shalom", "punten", "sugeng enjing",
)
SIGN_OFFS = (
    "wassalamualaikum warahmatullahi wabarakatuh", "wassalamualaikum wr wb", "wassalamualaikum", "wassalam",
    "terima kasih banyak", "terima kasih atas perhatiannya", "terima kasih atas perhatian", "terima kasih",
    "terimakasih", "makasih", "trims", "tks", "thx", "thanks", "thank you", "hormat saya", "hormat kami",
    "salam hormat", "best regards", "kind regards", "regards", "sincerely", "salam", "atas perhatiannya",
    "atas perhatian bapak ibu", "sent from my iphone", "dikirim dari iphone saya", "sent from my android",
)
# Markers after which a word names a place; two complaints about different places are different.
PLACE_MARKERS = frozenset(
    {"jalan", "gang", "kelurahan", "kecamatan", "desa", "dusun", "kampung", "perumahan", "komplek", "pasar",
     "kabupaten", "kota", "sdn", "smpn", "sman", "smkn", "puskesmas", "masjid", "terminal", "stasiun", "sungai",
     "jembatan", "taman"}
)
# Words that follow a place marker without naming the place ("jalan rusak", "jalan raya ...").
NOT_PLACES = frozenset(
    {"raya", "utama", "rusak", "berlubang", "mati", "gelap", "licin", "macet", "banjir", "depan", "belakang",
     "menuju", "masuk", "kecil", "besar", "umum", "lingkungan", "desa", "kampung", "sudah", "belum", "tidak",
     "yang", "di", "ke", "dekat", "sebelah", "rumah", "saya", "kami", "penerangan", "setapak", "tol", "protokol",
     "provinsi", "kabupaten", "kota", "baru", "lama", "sana", "sini", "itu", "ini", "tersebut", "jalan", "gang",
     "dan", "juga", "sekitar", "area", "kawasan", "wilayah", "nomor", "rt", "rw", "blok", "lagi", "terus",
     "amblas", "ambles", "retak", "tergenang", "tumbang", "kotor", "becek", "sepi", "ramai", "sempit", "lebar",
     "penuh", "parah", "pasar", "sungai", "taman", "jembatan", "induk", "pinggir", "tengah", "ujung"}
)
# Markers after which a number identifies a place (house, RT/RW, block, kilometre), not a count.
NUMBER_MARKERS = frozenset(
    {"nomor", "rt", "rw", "gang", "blok", "km", "kav", "kavling", "lantai", "unit", "pos", "sdn", "smpn", "sman",
     "smkn", "sd", "smp", "sma", "smk", "puskesmas"}
)

_QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.MULTILINE)
_QUOTE_PREFIX = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
# Where the earlier message starts: "On … wrote:", a forwarding banner, or a header block.
_BANNER = re.compile(
    r"^[ \t]*(?:(?:on|pada)\b[^\n]{0,200}\b(?:wrote|menulis)\s*:"
    r"|-{2,}\s*(?:forwarded message|original message|pesan (?:yang )?diteruskan|pesan asli)\s*-{2,}"
    r"|begin forwarded message:"
    r"|(?:from|dari)\s*:[^\n]*\n[ \t]*(?:sent|date|to|tanggal|terkirim|kepada|subject|subjek)\s*:)",
    re.MULTILINE | re.IGNORECASE,
)
_HEADER_LINE = re.compile(
    r"^[ \t]*(?:from|to|cc|date|sent|subject|dari|kepada|tanggal|terkirim|subjek|perihal)\s*:[^\n]*$",
    re.MULTILINE | re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^-- ?$.*", re.MULTILINE | re.DOTALL)
# A reply's own text shorter than this many words is a note ("still no answer") on the quoted complaint.
OWN_NOTE_TOKENS = 10
_WORDS = re.compile(r"[^\W_]+")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")


@dataclass(frozen=True, slots=True)
class _PhraseIndex:
    by_first: dict[str, list[tuple[str, ...]]]  # longest first, so "terima kasih banyak" beats "terima kasih"
    longest: int


def _phrase_index(*groups: tuple[str, ...]) -> _PhraseIndex:
    phrases = sorted({tuple(_WORDS.findall(p.casefold())) for group in groups for p in group}, key=len, reverse=True)
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for phrase in phrases:
        by_first.setdefault(phrase[0], []).append(phrase)
    return _PhraseIndex(by_first, max(len(p) for p in phrases))


_GREETINGS = _phrase_index(GREETINGS)
_SIGN_OFFS = _phrase_index(SIGN_OFFS)
_COURTESY = _phrase_index(GREETINGS, SIGN_OFFS)
# A name (and maybe a phone) after a sign-off: cut the sign-off and at most this many words after it.
_SIGNATURE_TAIL = 5


def split_email(text: str) -> tuple[str, str]:
    """(own text, quoted text): quote marks, banners, header lines and signatures removed."""
    banner = _BANNER.search(text)
    own, earlier = (text[: banner.start()], text[banner.end() :]) if banner else (text, "")
    quoted = "\n".join(line for line in _QUOTED_LINE.findall(own))
    own = _SIGNATURE.sub("", _QUOTED_LINE.sub("", own))
    earlier = _HEADER_LINE.sub("", _QUOTE_PREFIX.sub("", f"{quoted}\n{earlier}"))
    return own, _SIGNATURE.sub("", earlier)


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = folded.replace("'", "").replace("’", "")  # assalamu'alaikum, sy'
    # Emoji and symbols are not letters or digits, so the word pattern drops them with the punctuation.
    folded = _REPEATS.sub(r"\1", _LETTER_DIGIT.sub(" ", folded))  # "tolooong" -> "tolong"
    words: list[str] = []
    for word in _WORDS.findall(folded):
        if word.isdigit():
            word = str(int(word)) if len(word) < 12 else word  # "RT 03" == "RT 3"
        words.extend(ABBREVIATIONS.get(word, word).split())
    return words


def _strip_phrases(words: list[str], phrases: _PhraseIndex, *, at_end: bool) -> list[str]:
    """Remove courtesy phrases at the start (or end) of the message, repeatedly ("salam, selamat pagi")."""
    while words:
        if not at_end:
            size = _match(words, 0, phrases)
            if not size:
                return words
            words = words[size:]
            continue
        # The sign-off may be followed by a short name/signature: "terima kasih, budi santoso".
        for start in range(max(0, len(words) - phrases.longest - _SIGNATURE_TAIL), len(words)):
            size = _match(words, start, phrases)
            if size and start + size >= len(words) - _SIGNATURE_TAIL:
                words = words[:start]
                break
        else:
            return words
    return words


def _match(words: list[str], start: int, phrases: _PhraseIndex) -> int:
    """Length of the longest phrase at ``words[start]``, 0 when none starts there."""
    for phrase in phrases.by_first.get(words[start], ()):
        if tuple(words[start : start + len(phrase)]) == phrase:
            return len(phrase)
    return 0


def _strip_inner(words: list[str], phrases: _PhraseIndex) -> list[str]:
    out: list[str] = []
    index = 0
    while index < len(words):
        size = _match(words, index, phrases)
        if size > 1:
            index += size
        else:
            out.append(words[index])
            index += 1
    return out


@lru_cache(maxsize=4096)
def comparison_tokens(body: str) -> tuple[str, ...]:
    """The words two sendings of one complaint share; empty when nothing of substance is left."""
    # The start of a very long text tells resends apart as well as all of it, at a bounded cost.
    own, quoted = split_email(body[:MAX_COMPARED])
    words = _content_words(own)
    if quoted.strip() and len(words) < OWN_NOTE_TOKENS:
        # A forward, or a short "please follow up" on top of the quoted complaint: the complaint counts.
        return _content_words(quoted)
    return words


def _content_words(text: str) -> tuple[str, ...]:
    words = _words(text)
    words = _strip_phrases(words, _GREETINGS, at_end=False)
    words = _strip_phrases(words, _SIGN_OFFS, at_end=True)
    # Multi-word courtesy in the middle ("… terima kasih. Salam, …" of a quoted earlier mail).
    words = _strip_inner(words, _COURTESY)
    return tuple(word for word in words if word not in STOPWORDS)


class Features:
    """What similarity needs of one text, each part built on first use. Most reports are compared
    with nothing (a first-time sender, a text seen lately word for word): they need only the text.
    Of the pairs that are compared, most are settled by the cheap place and number guards before
    any shingle is needed.

    No __slots__: cached_property keeps what it built in the instance's __dict__, where later reads
    find it as a plain attribute (a person's stored texts are compared again and again).
    """

    def __init__(self, tokens: tuple[str, ...], original_length: int) -> None:
        self.tokens = tokens
        self.text = " ".join(tokens)
        # The original was 120..160 characters: a resend cut at the SMS limit looks like this.
        self.maybe_truncated = TRUNCATED_MIN <= original_length <= SMS_LIMIT

    @property
    def substantial(self) -> bool:
        return len(self.tokens) >= MIN_TOKENS

    @cached_property
    def places(self) -> frozenset[tuple[str, str]]:
        return _places(self.tokens)

    @cached_property
    def numbers(self) -> frozenset[tuple[str, str]]:
        return _numbers(self.tokens)

    @cached_property
    def shingles(self) -> frozenset[str]:
        return shingles_of(self.text)


def shingles_of(text: str) -> frozenset[str]:
    if len(text) <= SHINGLE:
        return frozenset({text}) if text else frozenset()
    return frozenset([text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1)])


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


# Generic words and markers with one letter dropped: a typo ("kampuung", "blakang") stays generic.
_GENERIC = {
    variant for word in PLACE_MARKERS | NOT_PLACES for variant in (_deletions(word) | {word}) if len(variant) > 2
}


def _generic(word: str) -> bool:
    return word in _GENERIC or any(variant in _GENERIC for variant in _deletions(word))


def _places(tokens: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """(marker, name) pairs: ("jalan", "merdeka"), ("desa", "sukamaju")."""
    found = set()
    for index, word in enumerate(tokens[:-1]):
        if word in PLACE_MARKERS:
            for follower in tokens[index + 1 : index + 3]:
                if len(follower) > 2 and not follower.isdigit() and not _generic(follower):
                    found.add((word, follower))
                    break
    return frozenset(found)


def _numbers(tokens: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """(marker, value) pairs: ("rt", "4"), ("nomor", "45"), ("blok", "c")."""
    return frozenset(
        (word, tokens[index + 1])
        for index, word in enumerate(tokens[:-1])
        if word in NUMBER_MARKERS and (tokens[index + 1].isdigit() or len(tokens[index + 1]) <= 2)
    )


def features_from_tokens(tokens: tuple[str, ...], original_length: int) -> Features:
    return Features(tokens, original_length)


def features(body: str) -> Features:
    return features_from_tokens(comparison_tokens(body), len(body))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _containment(a: frozenset[str], b: frozenset[str]) -> float:
    """The shorter text nearly whole inside a not much longer one: a resend with a line added
    ("sent again, no answer yet: …"). Below CONTAINED the plain Jaccard index decides."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if not small or len(small) < CONTAINED_RATIO * len(large):
        return 0.0
    share = len(small & large) / len(small)
    return share if share >= CONTAINED else 0.0


def _close(a: str, b: str) -> bool:
    """Two spellings of one place name ("merdeka"/"merdka"/"mredeka"): a typo or two apart."""
    if a == b:
        return True
    shorter = min(len(a), len(b))
    allowed = 0 if shorter <= 4 else 1 if shorter < 7 else 2
    if abs(len(a) - len(b)) > allowed or len(set(a) ^ set(b)) > 2 * allowed:
        return False  # each edit changes at most two letters of the alphabet used
    # Optimal string alignment distance: a swap of two neighbours ("mleati") is one typo.
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i]
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            value = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, rows[i - 2][j - 2] + 1)
            row.append(value)
        rows.append(row)
    return rows[-1][-1] <= allowed


def conflicting(a: Features, b: Features) -> bool:
    """Different streets, villages or house/RT/RW numbers: two complaints, however alike the words.

    Compared per marker, so "Desa Sukamaju, Kecamatan Cibadak" and "Desa Sukamulya, Kecamatan
    Cibadak" conflict on the village although they share the district.
    """
    places_a, places_b = a.places, b.places
    if places_a and places_b and not any(_close(x, y) for _, x in places_a for _, y in places_b):
        return True  # both say where, and no place name is shared
    for mark in {m for m, _ in places_a} & {m for m, _ in places_b}:
        names_a = [name for m, name in places_a if m == mark]
        names_b = [name for m, name in places_b if m == mark]
        if not any(_close(x, y) for x in names_a for y in names_b):
            return True
    numbers_a, numbers_b = a.numbers, b.numbers
    for mark in {m for m, _ in numbers_a} & {m for m, _ in numbers_b}:
        if not {n for m, n in numbers_a if m == mark} & {n for m, n in numbers_b if m == mark}:
            return True
    return False


def _prefix(tokens: tuple[str, ...], length: int) -> tuple[str, ...]:
    """The first words of ``tokens`` spanning about ``length`` characters of comparison text."""
    taken: list[str] = []
    size = 0
    for word in tokens:
        if size >= length:
            break
        taken.append(word)
        size += len(word) + 1
    return tuple(taken)


def similarity(a: Features, b: Features) -> float:
    """0..1, symmetric; 0 when either text is too short to judge or the two name different places."""
    if not (a.substantial and b.substantial) or conflicting(a, b):
        return 0.0
    score = max(_jaccard(a.shingles, b.shingles), _containment(a.shingles, b.shingles))
    return max(score, _cut_resend(a, b), _cut_resend(b, a))


def _cut_resend(short: Features, full: Features) -> float:
    """``short`` as an SMS cut at 160 characters: compared with as much of ``full`` as it could keep."""
    if not short.maybe_truncated or len(full.tokens) <= len(short.tokens):
        return 0.0
    head = Features(_prefix(full.tokens, len(short.text)), 0)
    return 0.0 if conflicting(short, head) else _jaccard(short.shingles, head.shingles)


def fingerprint_of(tokens: tuple[str, ...]) -> str | None:
    """A short stable digest of the comparison text: equal for texts that differ only in form."""
    if not tokens:
        return None
    return hashlib.blake2b(" ".join(tokens).encode(), digest_size=8).hexdigest()


def set_fingerprint(draft: Draft) -> Draft:
    """Chain step: Draft.fingerprint from the body's comparison form (None when nothing is left)."""
    return draft.evolve(fingerprint=fingerprint_of(comparison_tokens(draft.body)))
