from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request

from api.middleware import BodySizeLimit


def make_app(limit: int) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    app.add_middleware(BodySizeLimit, max_bytes=limit)
    return app


async def test_declared_and_streamed_sizes() -> None:
    transport = httpx.ASGITransport(app=make_app(100))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.post("/echo", content=b"x" * 100)).json() == {"size": 100}
        big = await http.post("/echo", content=b"x" * 101)
        assert big.status_code == 413 and big.json()["code"] == "payload_too_large"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
            for _ in range(5):
                yield b"x" * 50

        streamed = await http.post("/echo", content=chunks())
        assert streamed.status_code == 413
