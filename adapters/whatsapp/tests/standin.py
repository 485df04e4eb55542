"""A local Graph API stand-in (aiohttp on loopback): GET /{media-id} -> {"url": ...}, GET the url -> bytes.

Both requests must carry ``Authorization: Bearer <token>`` as Meta requires; each media id has a
behaviour: serve bytes, fail ``failures`` times with ``status`` first, or fail for ever.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

TOKEN = "EAAtest-access-token"

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
OGG = b"OggS\x00\x02" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64


@dataclass
class Medium:
    data: bytes
    mime_type: str
    failures: int = 0  # answers of ``status`` before the bytes are served; -1: never served
    status: int = 500
    metadata_requests: int = 0
    download_requests: int = 0


@dataclass
class GraphStandIn:
    token: str = TOKEN
    media: dict[str, Medium] = field(default_factory=dict)
    unauthorized: int = 0

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v21.0"

    def add(self, media_id: str, data: bytes, mime_type: str, failures: int = 0, status: int = 500) -> Medium:
        self.media[media_id] = Medium(data, mime_type, failures, status)
        return self.media[media_id]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v21.0/{media_id}", self._metadata)
        app.router.add_get("/files/{media_id}", self._download)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorized(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            self.unauthorized += 1
            return False
        return True

    async def _metadata(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": {"message": "Invalid OAuth access token.", "code": 190}}, status=401)
        medium = self.media.get(request.match_info["media_id"])
        if medium is None:
            return web.json_response({"error": {"message": "Unsupported get request.", "code": 100}}, status=400)
        medium.metadata_requests += 1
        if medium.failures < 0 or medium.metadata_requests <= medium.failures:
            return web.json_response({"error": {"message": "Service temporarily unavailable", "code": 2}},
                                     status=medium.status)
        media_id = request.match_info["media_id"]
        return web.json_response({
            "messaging_product": "whatsapp", "url": f"http://127.0.0.1:{self.port}/files/{media_id}",
            "mime_type": medium.mime_type, "sha256": "not-validated", "file_size": len(medium.data), "id": media_id,
        })

    async def _download(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401)
        medium = self.media[request.match_info["media_id"]]
        medium.download_requests += 1
        return web.Response(body=medium.data, content_type="application/octet-stream")
