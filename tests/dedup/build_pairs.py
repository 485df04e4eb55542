"""Authoring script for tests/dedup/pairs.jsonl, the near-duplicate evaluation set.

Run ``.venv/bin/python -m tests.dedup.build_pairs`` to rewrite the file; the test reads only the
committed JSONL. The complaint texts, places, greetings, email forms and paraphrases below are
written by hand; the script combines them and applies seeded, realistic rewrites (SMS
abbreviations, typos, the 160-character cut, greetings and sign-offs, quoted and forwarded
mail, WhatsApp style) so every pair is reproducible and reviewable.

Label policy (precision first): "duplicate" = the same person repeating the same complaint.
"distinct" = different problems, different places, or texts too short to tell ("lampu mati"
twice may be two lamps: linking them would hide a complaint).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

OUT = Path(__file__).with_name("pairs.jsonl")

PROBLEMS = [
    "Jalan di {loc} berlubang besar dan dalam, sudah hampir 2 minggu tidak ada perbaikan. Kemarin malam ada "
    "pengendara motor jatuh karena tidak kelihatan lubangnya. Mohon segera diperbaiki sebelum ada korban lagi.",
    "Lampu penerangan jalan di {loc} mati total sejak seminggu yang lalu. Malam hari gelap sekali dan warga takut "
    "lewat karena rawan begal. Mohon petugas segera memperbaiki.",
    "Sampah di {loc} menumpuk sudah 5 hari tidak diangkut petugas kebersihan. Baunya menyengat sampai ke rumah "
    "warga dan banyak lalat. Mohon truk sampah segera dijadwalkan lagi.",
    "Saluran air di {loc} tersumbat sampah dan lumpur, setiap hujan air meluap ke jalan dan masuk ke rumah warga. "
    "Sudah kami laporkan ke kelurahan tapi belum ada tindakan sama sekali.",
    "Air PDAM di {loc} tidak mengalir sudah 4 hari. Warga terpaksa membeli air galon untuk mandi dan masak. Tidak "
    "ada pemberitahuan sebelumnya dari PDAM. Mohon penjelasan dan solusinya.",
    "Pohon besar di {loc} condong ke arah jalan dan kabel listrik, akarnya sudah terangkat. Kalau ada angin kencang "
    "bisa tumbang menimpa rumah atau kendaraan. Mohon segera dipangkas atau ditebang.",
    "Ada pungutan liar di {loc} untuk pengurusan surat pengantar KTP, warga dimintai uang 50 ribu oleh oknum tanpa "
    "kwitansi. Mohon ditertibkan karena pelayanan ini seharusnya gratis.",
    "Banjir di {loc} setinggi lutut orang dewasa sejak tadi malam, air belum surut dan beberapa rumah kemasukan "
    "air. Ada lansia dan anak kecil yang perlu dievakuasi. Mohon bantuan segera.",
    "Parkir liar di {loc} memakan separuh badan jalan sehingga macet setiap sore. Juru parkirnya juga memungut "
    "tarif 5 ribu tanpa karcis. Mohon Dishub menertibkan.",
    "Trotoar di {loc} rusak, paving blocknya banyak yang lepas dan ada lubang bekas galian kabel yang tidak ditutup "
    "lagi. Pejalan kaki terutama anak sekolah terpaksa jalan di badan jalan.",
    "Pembangunan gedung di {loc} bekerja sampai jam 2 pagi, suara mesin molen dan alat berat sangat bising sehingga "
    "warga tidak bisa tidur. Mohon diperiksa izinnya dan jam kerjanya.",
    "Bantuan sembako untuk warga di {loc} tidak tepat sasaran, keluarga yang mampu dapat sedangkan janda dan lansia "
    "yang tidak mampu malah tidak terdaftar. Mohon pendataan ulang.",
    "Jembatan kayu di {loc} papannya sudah lapuk dan beberapa patah, padahal setiap hari dipakai anak-anak "
    "berangkat sekolah. Mohon segera diperbaiki sebelum ada yang jatuh ke sungai.",
    "Pelayanan di {loc} sangat lambat, antrean dari jam 7 pagi baru dipanggil jam 1 siang, petugas loketnya cuma "
    "satu dan sering ditinggal. Mohon ditambah petugas.",
    "Limbah pabrik dibuang ke sungai di {loc}, airnya jadi hitam dan berbau, ikan banyak yang mati dan warga "
    "gatal-gatal setelah mandi. Mohon Dinas Lingkungan Hidup turun memeriksa.",
    "Anjing liar berkeliaran di {loc}, sudah ada 3 warga yang digigit termasuk anak kecil. Kami khawatir rabies. "
    "Mohon dinas peternakan segera menangani.",
    "Rambu lalu lintas di {loc} roboh ditabrak truk seminggu lalu dan belum dipasang kembali, pengendara dari arah "
    "berlawanan sering hampir tabrakan di tikungan. Mohon dipasang lagi.",
    "Genangan air di {loc} sudah berminggu-minggu tidak kering dan jadi sarang nyamuk, sudah ada 2 anak di "
    "lingkungan kami yang kena demam berdarah. Mohon fogging dan perbaikan drainase.",
    "Kabel listrik dan kabel internet di {loc} menjuntai rendah sampai bisa dijangkau tangan, truk yang lewat "
    "sering tersangkut. Sangat berbahaya. Mohon PLN dan provider merapikan.",
    "Ada tumpukan sampah liar di {loc} yang sering dibakar pada malam hari, asapnya masuk ke rumah dan membuat "
    "anak kami sesak napas. Mohon dipasang larangan dan sampahnya diangkut.",
    "Lampu lalu lintas di {loc} mati sejak kemarin siang, kendaraan saling serobot dan sempat terjadi kecelakaan "
    "kecil. Mohon segera diperbaiki atau ditempatkan petugas.",
    "Pedagang kaki lima di {loc} menutup trotoar dan sebagian jalan, pejalan kaki terpaksa turun ke jalan raya. "
    "Sampah dagangan juga dibuang sembarangan ke got.",
    "Gaji guru honorer di {loc} belum dibayar selama 3 bulan, padahal kami tetap mengajar setiap hari. Mohon "
    "kejelasan dari dinas pendidikan kapan akan dicairkan.",
    "Fasilitas toilet di {loc} rusak dan kotor sekali, pintunya tidak bisa dikunci dan airnya tidak mengalir. "
    "Pengunjung terpaksa mencari toilet di luar.",
    "Jalan di {loc} licin karena tumpahan tanah dari truk proyek, setiap hujan jadi lumpur dan sudah beberapa motor "
    "tergelincir. Mohon kontraktornya ditegur untuk membersihkan.",
    "Ambulans desa di {loc} tidak bisa dipakai warga tanpa membayar uang bensin 200 ribu, padahal itu fasilitas "
    "gratis. Kemarin ada ibu hamil yang terlambat dibawa ke puskesmas.",
]

PLACES = [
    "Jl. Merdeka depan SDN 3 Sukajadi",  # 0
    "Jl. Sudirman dekat Pasar Baru",  # 1
    "Gang Melati RT 04 RW 02 Kelurahan Cibeunying",  # 2
    "Gang Mawar RT 07 RW 03 Kelurahan Cibeunying",  # 3
    "Jl. Diponegoro No. 45 Kecamatan Tegalsari",  # 4
    "Jl. Diponegoro No. 112 Kecamatan Tegalsari",  # 5
    "Perumahan Griya Asri Blok C Kecamatan Cileungsi",  # 6
    "Perumahan Griya Asri Blok F Kecamatan Cileungsi",  # 7
    "Jl. Ahmad Yani KM 5 arah Banjarbaru",  # 8
    "Jl. Ahmad Yani KM 12 arah Banjarbaru",  # 9
    "Desa Sukamaju Kecamatan Cibadak",  # 10
    "Desa Sukamulya Kecamatan Cibadak",  # 11
    "Jl. Gatot Subroto simpang Jl. Veteran",  # 12
    "Kampung Rawa Bebek RT 01 Kelurahan Kota Baru",  # 13
    "Jl. Pahlawan depan Puskesmas Semampir",  # 14
    "Jl. Imam Bonjol dekat Masjid Al-Ikhlas",  # 15
    "Pasar Induk Kramat Jati",  # 16
    "Komplek Pondok Indah Blok D RT 05",  # 17
    "Jl. Raya Bogor KM 28 Cimanggis",  # 18
    "Jl. Raya Bogor KM 31 Cimanggis",  # 19
    "Gang Kenari belakang Terminal Kampung Rambutan",  # 20
    "Jl. Kartini samping Kantor Kelurahan Pandean",  # 21
    "SDN 7 Kelurahan Tanjung Karang",  # 22
    "Kantor Kecamatan Medan Baru",  # 23
    "Kelurahan Bandarharjo RT 09 RW 01",  # 24
    "Jl. Veteran dekat Alun-alun Kota",  # 25
]

# (problem, place) of each base complaint; places are shared so "same street, other problem" exists.
BASES = [
    (0, 0), (1, 0), (9, 0), (2, 2), (3, 2), (4, 4), (7, 4), (5, 12), (8, 12), (10, 15), (1, 15), (12, 10),
    (25, 10), (11, 17), (2, 17), (15, 13), (17, 8), (0, 8), (13, 23), (6, 21), (14, 13), (16, 6), (18, 20),
    (3, 20), (19, 25), (20, 25), (7, 24), (21, 1), (8, 1), (22, 22), (23, 16), (24, 18), (0, 18), (1, 14),
    (25, 11), (17, 9), (4, 3), (2, 11), (5, 14), (10, 21), (12, 11), (18, 7), (9, 19), (24, 19), (4, 24),
]
# Places a handler would never confuse, although the words around them are the same.
NEAR_PLACES = [(2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (18, 19), (0, 1), (12, 25), (14, 15), (20, 21),
               (13, 24), (16, 17), (22, 23)]

SMS_ABBREVIATIONS = {
    "yang": ["yg"], "tidak": ["tdk", "gk", "ga", "gak"], "sudah": ["sdh", "udh", "udah"], "dengan": ["dgn"],
    "untuk": ["utk"], "karena": ["krn", "karna"], "jalan": ["jln", "jl"], "belum": ["blm"], "dari": ["dr"],
    "saya": ["sy"], "kami": ["kmi"], "tolong": ["tlg"], "mohon": ["mhn"], "hari": ["hr"], "minggu": ["mgg"],
    "sampai": ["sampe"], "lagi": ["lg"], "juga": ["jg"], "bisa": ["bs"], "orang": ["org"], "banyak": ["byk"],
    "harus": ["hrs"], "masih": ["msh"], "depan": ["dpn"], "rumah": ["rmh"], "warga": ["wrg"], "segera": ["sgr"],
    "tapi": ["tp"], "padahal": ["pdhl"], "sebelum": ["sblm"], "setelah": ["stlh"], "kemarin": ["kmrn"],
    "sekolah": ["sklh"], "setiap": ["tiap"], "sekali": ["bgt"], "kelurahan": ["kel"], "kecamatan": ["kec"],
    "bulan": ["bln"], "seperti": ["spt"], "sekarang": ["skrg"], "Jl.": ["jln", "jl", "Jalan"], "No.": ["no", "nmr"],
}

GREETINGS = [
    "Assalamualaikum wr wb. Selamat pagi Bapak/Ibu petugas.", "Selamat siang Pak,", "Permisi min,",
    "Dengan hormat,", "Selamat malam, maaf mengganggu.", "Halo admin,", "Assalamualaikum.", "Pagi pak,",
    "Yth. Bapak/Ibu,", "Salam sejahtera,", "Selamat sore Bu,", "Good morning,",
]
SIGN_OFFS = [
    "Terima kasih.\nHormat saya,\nSiti Aminah", "Wassalamualaikum wr wb.", "Makasih pak 🙏🙏",
    "Salam, Budi (RT 04)", "Terima kasih atas perhatiannya.", "Trims.", "Thanks,\nAndi", "Hormat kami, warga",
    "Terima kasih banyak, semoga cepat ditangani.", "Regards,\nDewi",
]
RESEND_PREFACES = [
    "Saya sudah lapor minggu lalu tapi belum ada tanggapan, saya kirim ulang:",
    "Mengulang laporan saya kemarin:",
    "LAPOR ULANG:",
    "Kirim lagi krn blm ada respon.",
]
REPLY_OPENERS = [
    "Mohon ditindaklanjuti, sampai sekarang belum ada perubahan.",
    "Bagaimana kelanjutan laporan saya di bawah ini?",
    "Sudah 10 hari belum ada kabar.",
]
ATTRIBUTIONS = [
    "Pada Sen, 16 Nov 2026 pukul 09.15, Siti Aminah <siti.aminah@example.id> menulis:",
    "On Mon, Nov 16, 2026 at 9:15 AM Budi Santoso <budi.s@example.com> wrote:",
    "Pada tanggal Sel, 10 Nov 2026 20.41, Dewi <dewi88@example.co.id> menulis:",
]
FORWARD_HEADERS = [
    "---------- Forwarded message ---------\nDari: Siti Aminah <siti.aminah@example.id>\n"
    "Date: Sen, 16 Nov 2026 pukul 09.15\nSubject: Laporan warga\nTo: <pengaduan@kota.go.id>",
    "-----Original Message-----\nFrom: Budi Santoso <budi.s@example.com>\nSent: Monday, November 16, 2026 9:15 AM\n"
    "To: pengaduan@kota.go.id\nSubject: Keluhan",
    "Begin forwarded message:\n\nFrom: Dewi <dewi88@example.co.id>\nSubject: Pengaduan\n"
    "Date: 10 November 2026 at 20:41:00 GMT+7\nTo: lapor@kab.go.id",
]
EMOJI = ["😡", "🙏", "😭", "‼️", "👍", "🚧", "💡", "😤"]

# Hand-written rewordings by the same person (base index -> resend). Harder than a resend; some
# are expected to be missed, which is the right side to err on.
PARAPHRASES = {
    0: "Lubang besar di Jl Merdeka depan SDN 3 Sukajadi blm juga diperbaiki, sudah 2 minggu lebih. Semalam ada "
       "motor jatuh lagi krn lubangnya tidak kelihatan. Tolong segera diperbaiki sebelum ada korban.",
    1: "Lampu jalan di Jl. Merdeka depan SDN 3 Sukajadi sudah seminggu mati total, malam gelap sekali. Warga takut "
       "lewat krn rawan begal. Tolong segera diperbaiki petugas.",
    3: "Sudah 5 hari sampah di Gang Melati RT 04 RW 02 Kelurahan Cibeunying tidak diangkut, bau menyengat sampai ke "
       "rumah dan banyak lalat. Tolong truk sampah dijadwalkan lagi.",
    5: "Sudah 4 hari air PDAM tidak mengalir di Jl. Diponegoro No. 45 Kecamatan Tegalsari, kami terpaksa beli air "
       "galon buat mandi dan masak. Tidak ada pemberitahuan dari PDAM. Mohon solusinya.",
    7: "Pohon besar di Jl. Gatot Subroto simpang Jl. Veteran sudah condong ke jalan dan kabel listrik, akarnya "
       "terangkat. Bisa tumbang kalau angin kencang dan menimpa rumah. Mohon dipangkas atau ditebang segera.",
    2: "Paving block trotoar di Jl. Merdeka depan SDN 3 Sukajadi banyak yang lepas, ada juga lubang bekas galian "
       "kabel yang tidak ditutup. Anak sekolah terpaksa jalan di badan jalan.",
    9: "Pembangunan gedung di Jl. Imam Bonjol dekat Masjid Al-Ikhlas kerja sampai jam 2 pagi, mesin molen dan alat "
        "berat bising sekali, warga tidak bisa tidur. Mohon diperiksa izin dan jam kerjanya.",
    11: "Jembatan kayu di Desa Sukamaju Kecamatan Cibadak papannya lapuk dan ada yang patah, padahal "
        "tiap hari dipakai anak-anak ke sekolah. Mohon diperbaiki sebelum ada yang jatuh ke sungai.",
    18: "Antrean di Kantor Kecamatan Medan Baru dari jam 7 pagi baru dipanggil jam 1 siang, petugas loket cuma "
        "satu dan sering ditinggal. Pelayanannya sangat lambat, mohon ditambah petugas.",
    19: "Di Jl. Kartini samping Kantor Kelurahan Pandean ada pungli untuk surat pengantar KTP, warga diminta 50 ribu "
        "oleh oknum tanpa kwitansi. Padahal seharusnya gratis, mohon ditertibkan.",
    16: "Genangan air di Jl. Ahmad Yani KM 5 arah Banjarbaru sudah berminggu-minggu tidak kering, jadi "
        "sarang nyamuk. 2 anak di lingkungan kami sudah kena DBD. Mohon fogging dan drainase diperbaiki.",
    22: "Kabel listrik dan internet di Gang Kenari belakang Terminal Kampung Rambutan menjuntai rendah, bisa "
        "dijangkau tangan dan truk sering tersangkut. Berbahaya sekali, mohon PLN dan provider merapikan.",
    25: "Lampu lalu lintas di Jl. Veteran dekat Alun-alun Kota mati dari kemarin siang. Kendaraan saling serobot, "
        "sudah ada kecelakaan kecil. Mohon diperbaiki atau ada petugas yang mengatur.",
    29: "Gaji kami guru honorer di SDN 7 Kelurahan Tanjung Karang sudah 3 bulan belum dibayar padahal tetap mengajar "
        "tiap hari. Mohon dinas pendidikan memberi kejelasan kapan dicairkan.",
    31: "Jalan di Jl. Raya Bogor KM 28 Cimanggis licin karena tanah tumpah dari truk proyek. Tiap hujan jadi lumpur "
        "dan beberapa motor sudah tergelincir. Tolong kontraktornya ditegur.",
    33: "Lampu penerangan jalan mati total di Jl. Pahlawan depan Puskesmas Semampir sejak seminggu lalu. Gelap "
        "sekali malam hari, warga takut lewat krn rawan begal.",
    34: "Ambulans desa di Desa Sukamulya Kecamatan Cibadak harus bayar uang bensin 200 ribu kalau warga mau pakai, "
        "padahal fasilitas gratis. Kemarin ibu hamil terlambat dibawa ke puskesmas karenanya.",
    37: "Sampah di Desa Sukamulya Kecamatan Cibadak tidak diangkut sudah 5 hari, baunya sampai ke rumah warga, "
        "lalat di mana-mana. Mohon truk sampahnya dijadwalkan lagi.",
    40: "Papan jembatan kayu di Desa Sukamulya Kecamatan Cibadak sudah lapuk, beberapa patah. Setiap hari anak-anak "
        "lewat situ ke sekolah. Tolong segera diperbaiki sebelum ada yang jatuh ke sungai.",
    41: "Kabel listrik dan kabel internet di Perumahan Griya Asri Blok F Kecamatan Cileungsi menjuntai sangat rendah, "
        "truk yang lewat sering tersangkut. Mohon PLN dan provider segera merapikan.",
}

# Short, template-like texts: alike by construction, yet nothing says they are the same complaint.
TEMPLATES = [
    ("jalan rusak", "jalan rusak"), ("Jalan rusak!", "jalan rusak parah"), ("lampu mati", "Lampu mati pak"),
    ("Lampu jalan mati", "lampu jalan mati lagi"), ("sampah numpuk", "sampah menumpuk min"),
    ("banjir lagi", "Banjir lagi 😭"), ("air mati", "air PDAM mati"), ("Jalan berlubang", "jalan berlubang bu"),
    ("macet parah", "Macet parah!!"), ("Lapor: jalan rusak", "LAPOR jalan rusak"), ("pungli", "ada pungli"),
    ("PJU mati", "pju mati"), ("got mampet", "Got mampet pak"), ("listrik padam", "listrik padam lg"),
    ("jalan rusak di Gang Melati", "Jalan rusak di Gang Mawar"),
    ("Lampu jalan mati di RT 04", "lampu jalan mati di RT 07"),
    ("Sampah menumpuk di Pasar Baru", "sampah menumpuk di Pasar Induk"),
    ("Jalan berlubang di Jl. Diponegoro No. 45", "jalan berlubang di jl diponegoro no 112"),
    ("Banjir di Desa Sukamaju", "banjir di desa Sukamulya"),
    ("Air PDAM mati di Blok C", "Air PDAM mati di Blok F"),
    ("Halo min, lampu mati", "Selamat pagi, lampu mati. Terima kasih"),
    ("Pohon tumbang", "pohon tumbang pak"), ("Parkir liar", "parkir liar lagi"),
    ("Jalan rusak parah mohon diperbaiki", "jalan rusak parah mhn diperbaiki"),
    ("Lampu PJU mati", "lampu pju mati sdh lama"),
    ("Sampah belum diangkut", "sampah blm diangkut"), ("Jalan licin", "jalan licin bgt"),
    ("anjing liar", "Anjing liar gigit warga"), ("Trotoar rusak", "trotoar rusak pak"),
    ("Banjir setinggi lutut", "banjir setinggi lutut!!"),
]

# The same person, later, about something else that shares words with the first complaint.
FOLLOW_UPS = [
    (0, "Terima kasih, jalan berlubang di Jl. Merdeka depan SDN 3 Sukajadi sudah ditambal kemarin. Tapi sekarang "
        "lampu penerangan di situ yang mati, malam jadi gelap sekali."),
    (3, "Sampah di Gang Melati RT 04 RW 02 sudah diangkut, terima kasih. Sekarang saluran air di depan rumah kami "
        "yang tersumbat dan air meluap ke jalan setiap hujan."),
    (5, "Air PDAM di Jl. Diponegoro No. 45 sudah mengalir lagi, tapi airnya keruh kecoklatan dan berbau. Apakah "
        "aman dipakai? Mohon dicek kualitas airnya."),
    (16, "Genangan di Jl. Ahmad Yani KM 5 arah Banjarbaru sudah dikeringkan, terima kasih. Sekarang jalannya "
         "berlubang besar bekas genangan itu dan sudah ada motor jatuh."),
    (6, "Banjir di Jl. Diponegoro No. 45 sudah surut, tapi sampah dan lumpur sisa banjir menumpuk di jalan dan "
        "belum dibersihkan. Mohon dikirim petugas kebersihan."),
    (13, "Pendataan bantuan sembako di Komplek Pondok Indah Blok D RT 05 sudah diulang, terima kasih. Tapi "
         "sekarang pembagiannya yang terlambat sudah 2 bulan."),
]


def place_of(base: int) -> str:
    return PLACES[BASES[base][1]]


def text_of(problem: int, place: int) -> str:
    return PROBLEMS[problem].format(loc=PLACES[place])


def abbreviate(text: str, rng: random.Random, share: float = 0.8) -> str:
    words = text.split(" ")
    out = []
    for word in words:
        core = word.rstrip(".,!?")
        tail = word[len(core):]
        options = SMS_ABBREVIATIONS.get(core) or SMS_ABBREVIATIONS.get(core.lower())
        if options and rng.random() < share:
            out.append(rng.choice(options) + tail)
        else:
            out.append(word)
    result = " ".join(out)
    if rng.random() < 0.6:
        result = result.lower()
    if rng.random() < 0.5:
        result = result.replace(",", "").replace(". ", " ")
    return result


def typo(text: str, rng: random.Random, count: int) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    for index in rng.sample(candidates, min(count, len(candidates))):
        word = words[index]
        at = rng.randrange(1, len(word) - 2)
        kind = rng.randrange(3)
        if kind == 0:
            word = word[:at] + word[at + 1] + word[at] + word[at + 2:]
        elif kind == 1:
            word = word[:at] + word[at + 1:]
        else:
            word = word[:at] + word[at] + word[at:]
        words[index] = word
    return " ".join(words)


def whatsapp(text: str, rng: random.Random) -> str:
    sentences = re.split(r"(?<=\.) ", text)
    lines = []
    for sentence in sentences:
        if rng.random() < 0.4:
            sentence = sentence.rstrip(".") + " " + rng.choice(EMOJI) * rng.randint(1, 3)
        if rng.random() < 0.2:
            sentence = sentence.upper()
        lines.append(sentence)
    opener = rng.choice(["Min ", "Pak ", "Bu ", "*LAPOR* ", ""])
    return opener + "\n".join(lines) + rng.choice(["", " 🙏", "!!!", " tolong ya"])


def quoted(text: str, rng: random.Random) -> str:
    lines = re.split(r"(?<=\.) ", text)
    quote = "\n".join("> " + line for line in lines)
    return f"{rng.choice(REPLY_OPENERS)}\n\n{rng.choice(ATTRIBUTIONS)}\n{quote}"


def forwarded(text: str, rng: random.Random) -> str:
    tail = rng.choice(["", "\n\nSent from my iPhone", "\n\n-- \nBudi Santoso\n0812-3456-7890"])
    return f"{rng.choice(['Fwd laporan saya.', '', 'Mohon dibantu.'])}\n\n{rng.choice(FORWARD_HEADERS)}\n\n{text}{tail}"


def greeted(text: str, rng: random.Random) -> str:
    return f"{rng.choice(GREETINGS)} {text}\n{rng.choice(SIGN_OFFS)}"


def build() -> list[dict[str, str]]:
    rng = random.Random(20261123)
    pairs: list[dict[str, str]] = []

    def add(a: str, b: str, label: str, kind: str) -> None:
        pairs.append({"id": f"p{len(pairs) + 1:03d}", "kind": kind, "label": label, "a": a, "b": b})

    originals = [text_of(problem, place) for problem, place in BASES]
    for index, original in enumerate(originals):
        sms = typo(abbreviate(original, rng), rng, rng.randint(1, 3))
        add(original, sms, "duplicate", "resend_sms_abbrev_typos")
        if len(sms) > 170:
            add(original, sms[:160], "duplicate", "resend_truncated_160")
        if index % 2 == 0:
            add(original, typo(original, rng, rng.randint(2, 4)), "duplicate", "resend_typos")
        add(original, greeted(original, rng), "duplicate", "greetings_signoff")
        if index % 3 == 0:
            add(original, f"{rng.choice(RESEND_PREFACES)} {original}", "duplicate", "resend_with_preface")
        add(original, quoted(original, rng) if index % 2 else forwarded(original, rng), "duplicate",
            "email_quoted" if index % 2 else "email_forwarded")
        first_sms = sms[:160] if len(sms) > 170 else sms
        add(first_sms, whatsapp(original, rng), "duplicate", "channel_change_sms_to_whatsapp")
        if index in PARAPHRASES:
            add(original, PARAPHRASES[index], "duplicate", "paraphrase")

    by_place: dict[int, list[int]] = {}
    for index, (_problem, place) in enumerate(BASES):
        by_place.setdefault(place, []).append(index)
    for members in by_place.values():
        for i, first in enumerate(members):
            for second in members[i + 1:]:
                add(originals[first], originals[second], "distinct", "same_place_other_problem")
                add(abbreviate(originals[first], rng), originals[second], "distinct", "same_place_other_problem_sms")

    for problem_index in range(len(PROBLEMS)):
        for left, right in NEAR_PLACES:
            if (problem_index + left) % 4 == 0:
                a, b = text_of(problem_index, left), text_of(problem_index, right)
                add(a, b, "distinct", "same_problem_other_place")
                if (problem_index + left) % 8 == 0:
                    add(typo(abbreviate(a, rng), rng, 1), b, "distinct", "same_problem_other_place_sms")

    for a, b in TEMPLATES:
        add(a, b, "distinct", "short_template")
    for base, later in FOLLOW_UPS:
        add(originals[base], later, "distinct", "follow_up_other_problem")
        # A reply that quotes the first complaint but raises a new one.
        add(originals[base], f"{later}\n\n{rng.choice(ATTRIBUTIONS)}\n> {originals[base]}", "distinct",
            "follow_up_quoting_original")
    for index in range(0, len(originals) - 7, 3):
        add(originals[index], originals[index + 7], "distinct", "unrelated")
    return pairs


def main() -> None:
    pairs = build()
    with OUT.open("w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[pair["label"]] = counts.get(pair["label"], 0) + 1
    print(len(pairs), counts)


if __name__ == "__main__":
    main()
