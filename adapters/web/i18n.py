"""The web form's words, Indonesian first. Plain language: many citizens read on a small phone."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.web.api import FieldProblem

DEFAULT_LANGUAGE = "id"

TEXTS: dict[str, dict[str, str]] = {
    "id": {
        "language_name": "Bahasa Indonesia",
        "other_language": "en",
        "switch_label": "Pilih bahasa",
        "skip": "Langsung ke formulir",
        "brand": "LAPOR! Layanan Aspirasi dan Pengaduan Online Rakyat",
        "title": "Sampaikan laporan",
        "intro": "Sampaikan pengaduan, aspirasi, atau permintaan informasi Anda kepada pemerintah. "
        "Hanya isi laporan yang wajib; kolom lain boleh dikosongkan.",
        "error_title_prefix": "Kesalahan: ",
        "summary_title": "Ada yang perlu diperbaiki",
        "error_prefix": "Kesalahan:",
        "required": "(wajib)",
        "optional": "(opsional)",
        "kind_legend": "Jenis laporan",
        "kind_complaint": "Pengaduan",
        "kind_complaint_hint": "Anda mengalami atau melihat masalah pada pelayanan publik dan ingin ditindaklanjuti.",
        "kind_aspiration": "Aspirasi",
        "kind_aspiration_hint": "Anda punya saran atau usulan untuk memperbaiki pelayanan publik.",
        "kind_information_request": "Permintaan informasi",
        "kind_information_request_hint": "Anda ingin mendapat informasi dari instansi pemerintah.",
        "subject_label": "Judul laporan",
        "subject_hint": "Satu kalimat singkat, misalnya: Jalan berlubang di depan SD Negeri 3.",
        "body_label": "Isi laporan",
        "body_hint": "Ceritakan apa yang terjadi, kapan, dan di mana. Jangan tulis kata sandi atau PIN.",
        "contact_legend": "Data diri",
        "contact_hint": "Isi nomor HP atau email agar petugas dapat mengabari perkembangan laporan Anda.",
        "name_label": "Nama",
        "phone_label": "Nomor HP",
        "phone_hint": "Contoh: 0812 3456 7890",
        "email_label": "Email",
        "email_hint": "Contoh: nama@contoh.id",
        "privacy_legend": "Privasi",
        "anonymous_label": "Anonim",
        "anonymous_hint": "Nama dan kontak Anda tidak ditunjukkan kepada instansi yang Anda laporkan. "
        "Petugas LAPOR! tetap dapat menghubungi Anda jika Anda mengisi kontak.",
        "confidential_label": "Rahasia",
        "confidential_hint": "Laporan Anda tidak ditampilkan kepada publik. Hanya Anda, petugas LAPOR!, "
        "dan instansi terkait yang dapat membacanya.",
        "location_legend": "Lokasi kejadian",
        "location_hint": "Tulis alamatnya, atau gunakan lokasi Anda saat ini.",
        "address_label": "Alamat atau patokan",
        "geo_button": "Gunakan lokasi saya sekarang",
        "geo_wait": "Mencari lokasi Anda…",
        "geo_ok": "Lokasi ditemukan dan diisi ke garis lintang dan garis bujur.",
        "geo_fail": "Lokasi tidak dapat ditemukan. Silakan tulis alamatnya.",
        "latitude_label": "Garis lintang",
        "longitude_label": "Garis bujur",
        "attachments_label": "Lampiran",
        "attachments_hint": "Foto (JPG, PNG, GIF, WebP, HEIC) atau PDF. Paling banyak {count} berkas, "
        "masing-masing paling besar {size}.",
        "files_too_many": "Terlalu banyak berkas: paling banyak {count}.",
        "files_too_big": "Berkas “{name}” lebih besar dari {size}.",
        "submit": "Kirim laporan",
        "sending": "Mengirim laporan…",
        "honeypot_label": "Jangan isi kolom ini",
        "reattach": "Berkas yang tadi Anda pilih belum terkirim; silakan pilih lagi.",
        # confirmation
        "done_title": "Laporan Anda sudah kami terima",
        "code_label": "Kode pelacakan Anda",
        "code_hint": "Simpan kode ini. Dengan kode ini Anda dapat menanyakan perkembangan laporan, "
        "juga bila Anda tidak memberikan kontak.",
        "copy_button": "Salin kode",
        "copied": "Kode pelacakan sudah disalin.",
        "copy_failed": "Tidak dapat menyalin otomatis. Pilih kode lalu salin.",
        "next_title": "Apa selanjutnya?",
        "next_verify": "Petugas memeriksa (memverifikasi) laporan Anda dalam 3 hari kerja.",
        "next_forward": "Laporan yang lolos pemeriksaan diteruskan ke instansi yang berwenang untuk ditindaklanjuti.",
        "next_contact": "Jika Anda mengisi nomor HP atau email, kabar perkembangan dikirim ke sana.",
        "another": "Kirim laporan lain",
        "not_found_title": "Halaman tidak ditemukan",
        "not_found": "Tautan ini tidak lengkap atau sudah diubah.",
        # errors: "<field>.<code>" first, then "<code>"
        "body.empty": "Tuliskan isi laporan Anda.",
        "body.missing": "Tuliskan isi laporan Anda.",
        "kind.invalid_choice": "Pilih salah satu jenis laporan.",
        "phone.invalid_phone": "Nomor HP tidak valid. Contoh: 0812 3456 7890.",
        "email.invalid_email": "Alamat email tidak valid. Contoh: nama@contoh.id.",
        "latitude.missing": "Isi garis lintang juga, atau kosongkan keduanya.",
        "longitude.missing": "Isi garis bujur juga, atau kosongkan keduanya.",
        "latitude.out_of_range": "Garis lintang harus antara -90 dan 90.",
        "longitude.out_of_range": "Garis bujur harus antara -180 dan 180.",
        "too_long": "Terlalu panjang: paling banyak {limit} karakter.",
        "not_a_number": "Tulis sebagai angka, misalnya -6.2088.",
        "invalid_encoding": "Teks ini berisi karakter yang tidak dapat dibaca.",
        "invalid": "Isian ini tidak valid.",
        "file_refused": "Berkas “{name}” tidak dapat diterima: isinya bukan foto atau PDF.",
        "csrf": "Formulir ini sudah terlalu lama terbuka atau tidak sah. Periksa isian Anda lalu kirim lagi.",
        "honeypot": "Pengiriman ini terlihat otomatis dan ditolak. Jika Anda bukan mesin, kirim lagi.",
        "rate_limited": "Terlalu banyak laporan dari jaringan Anda. Tunggu {minutes} menit lalu kirim lagi.",
        "too_large": "Kiriman terlalu besar (lebih dari {size}). Kurangi atau perkecil lampiran.",
        "bad_form": "Formulir tidak lengkap. Periksa isian Anda lalu kirim lagi.",
        "unavailable": "Laporan belum tersimpan karena gangguan sistem. Isian Anda masih ada; coba kirim lagi.",
    },
    "en": {
        "language_name": "English",
        "other_language": "id",
        "switch_label": "Choose language",
        "skip": "Skip to the form",
        "brand": "LAPOR! Public complaints and aspirations service",
        "title": "Send a report",
        "intro": "Send a complaint, an aspiration or an information request to the government. "
        "Only the report itself is required; you may leave the other fields empty.",
        "error_title_prefix": "Error: ",
        "summary_title": "There is a problem",
        "error_prefix": "Error:",
        "required": "(required)",
        "optional": "(optional)",
        "kind_legend": "Type of report",
        "kind_complaint": "Complaint",
        "kind_complaint_hint": "You experienced or saw a problem with a public service and want it dealt with.",
        "kind_aspiration": "Aspiration",
        "kind_aspiration_hint": "You have a suggestion or proposal to improve a public service.",
        "kind_information_request": "Information request",
        "kind_information_request_hint": "You want information from a government agency.",
        "subject_label": "Title",
        "subject_hint": "One short sentence, for example: Pothole in front of State Primary School 3.",
        "body_label": "Your report",
        "body_hint": "Tell us what happened, when and where. Never write passwords or PINs.",
        "contact_legend": "About you",
        "contact_hint": "Give a mobile number or an email so that staff can tell you how your report is going.",
        "name_label": "Name",
        "phone_label": "Mobile number",
        "phone_hint": "For example: 0812 3456 7890",
        "email_label": "Email",
        "email_hint": "For example: name@example.id",
        "privacy_legend": "Privacy",
        "anonymous_label": "Anonymous",
        "anonymous_hint": "The agency you report on will not see your name or contact details. "
        "LAPOR! staff can still reach you if you give them.",
        "confidential_label": "Confidential",
        "confidential_hint": "Your report is not shown to the public. Only you, LAPOR! staff "
        "and the agency concerned can read it.",
        "location_legend": "Where it happened",
        "location_hint": "Type the address, or use where you are now.",
        "address_label": "Address or landmark",
        "geo_button": "Use my current location",
        "geo_wait": "Finding your location…",
        "geo_ok": "Location found and filled in as latitude and longitude.",
        "geo_fail": "Your location could not be found. Please type the address.",
        "latitude_label": "Latitude",
        "longitude_label": "Longitude",
        "attachments_label": "Attachments",
        "attachments_hint": "Photos (JPG, PNG, GIF, WebP, HEIC) or PDF. At most {count} files, "
        "each at most {size}.",
        "files_too_many": "Too many files: at most {count}.",
        "files_too_big": "The file “{name}” is larger than {size}.",
        "submit": "Send report",
        "sending": "Sending your report…",
        "honeypot_label": "Leave this field empty",
        "reattach": "The files you chose were not sent yet; please choose them again.",
        "done_title": "We have received your report",
        "code_label": "Your tracking code",
        "code_hint": "Keep this code. With it you can ask how your report is going, "
        "even if you gave no contact details.",
        "copy_button": "Copy code",
        "copied": "The tracking code was copied.",
        "copy_failed": "Could not copy automatically. Select the code and copy it.",
        "next_title": "What happens next?",
        "next_verify": "Staff check (verify) your report within 3 working days.",
        "next_forward": "Once verified, your report goes to the agency responsible, which follows it up.",
        "next_contact": "If you gave a mobile number or an email, updates are sent there.",
        "another": "Send another report",
        "not_found_title": "Page not found",
        "not_found": "This link is incomplete or was changed.",
        "body.empty": "Describe what happened.",
        "body.missing": "Describe what happened.",
        "kind.invalid_choice": "Choose a type of report.",
        "phone.invalid_phone": "This is not a valid mobile number. For example: 0812 3456 7890.",
        "email.invalid_email": "This is not a valid email address. For example: name@example.id.",
        "latitude.missing": "Fill in the latitude too, or leave both empty.",
        "longitude.missing": "Fill in the longitude too, or leave both empty.",
        "latitude.out_of_range": "Latitude must be between -90 and 90.",
        "longitude.out_of_range": "Longitude must be between -180 and 180.",
        "too_long": "Too long: at most {limit} characters.",
        "not_a_number": "Write it as a number, for example -6.2088.",
        "invalid_encoding": "This text contains characters that cannot be read.",
        "invalid": "This is not valid.",
        "file_refused": "The file “{name}” cannot be accepted: it is not a photo or a PDF.",
        "csrf": "This form was open too long or is not valid. Check what you typed and send it again.",
        "honeypot": "This looked automated and was refused. If you are not a machine, send it again.",
        "rate_limited": "Too many reports from your network. Wait {minutes} minutes and send again.",
        "too_large": "What you sent is too large (over {size}). Send fewer or smaller attachments.",
        "bad_form": "The form was incomplete. Check what you typed and send it again.",
        "unavailable": "Your report was not saved because of a system problem. "
        "What you typed is still here; please send it again.",
    },
}


def choose_language(query_lang: str | None, accept_language: str | None) -> str:
    """An explicit ?lang= wins; then the browser's Accept-Language by weight; then Indonesian."""
    if query_lang in TEXTS:
        return query_lang
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.split("-")[0].strip().lower()
        if weight > 0 and primary in TEXTS:
            weighted.append((-weight, index, primary))
    return min(weighted)[2] if weighted else DEFAULT_LANGUAGE


def problem_message(problem: FieldProblem, field: str, texts: Mapping[str, str]) -> str:
    template = texts.get(f"{field}.{problem.code}") or texts.get(problem.code) or texts["invalid"]
    limit = int(problem.limit) if problem.limit is not None else ""
    return template.format(limit=limit)


def human_size(size: int) -> str:
    if size >= 1_048_576:
        return f"{size / 1_048_576:g} MB"
    return f"{size // 1024} KB"
