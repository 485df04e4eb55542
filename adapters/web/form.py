"""GET /: a minimal page that posts to the JSON API (the accessible form has its own issue)."""

from __future__ import annotations

from aiohttp import web

from gateway.http import HttpSurface

PAGE = """<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lapor! — Kirim laporan</title></head>
<body><main>
<h1>Kirim laporan</h1>
<form id="report">
<p><label for="kind">Jenis</label>
<select id="kind" name="kind"><option value="complaint">Pengaduan</option>
<option value="aspiration">Aspirasi</option>
<option value="information_request">Permintaan informasi</option></select></p>
<p><label for="subject">Judul</label> <input id="subject" name="subject" maxlength="300"></p>
<p><label for="body">Isi laporan</label><br><textarea id="body" name="body" required rows="6" cols="40"></textarea></p>
<p><label for="phone">Nomor HP (opsional)</label> <input id="phone" name="phone" type="tel"></p>
<p><button type="submit">Kirim</button></p>
</form>
<p id="result" role="status" aria-live="polite"></p>
</main>
<script>
document.getElementById("report").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = Object.fromEntries(new FormData(event.target));
  for (const key of Object.keys(data)) if (data[key] === "") delete data[key];
  const response = await fetch("/v1/reports", {method: "POST",
    headers: {"Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID()},
    body: JSON.stringify(data)});
  const answer = await response.json();
  document.getElementById("result").textContent = response.ok
    ? "Terima kasih. Kode pelacakan: " + answer.tracking_code : answer.message;
});
</script>
</body></html>
"""


def register(surface: HttpSurface) -> None:
    async def form(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    surface.add(
        "GET", "/", form,
        {"summary": "The citizen's report form", "operationId": "reportForm",
         "responses": {"200": {"description": "HTML form", "content": {"text/html": {"schema": {"type": "string"}}}}}},
    )
