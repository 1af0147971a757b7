"""The HTTP app: OpenAI-compatible routes over the served models, errors in OpenAI's shape."""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel

from . import chat_completions, completions, responses
from .metrics import Metrics
from .protocol import APIError, ChatCompletionRequest, CompletionRequest, ResponsesRequest, validate
from .runner import ServedModel

log = logging.getLogger("openweight.serve")
STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 4 * 2**20


def create_app(models: dict[str, object], *, api_key: str | None = None, max_batch: int = 16,
               max_context: int | None = None, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """An app serving `models` (name -> LM); engines start and stop with the app."""
    metrics = Metrics()
    served = {name: ServedModel(name, lm, max_batch, max_context, metrics) for name, lm in models.items()}
    stored = responses.ResponseStore()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for s in served.values():
            s.engine.start()
        yield
        for s in served.values():
            s.engine.stop()

    app = FastAPI(title="openweight", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError):
        return JSONResponse(e.body(), status_code=e.status)

    @app.middleware("http")
    async def count_and_guard(request: Request, call_next):
        endpoint = request.url.path
        try:
            if endpoint.startswith("/v1/"):
                check_key(request, api_key)
            response = await call_next(request)
        except APIError as e:
            response = JSONResponse(e.body(), status_code=e.status)
        except Exception:  # a bug of ours: say so in the API's shape, keep the traceback in the log
            log.exception("request to %s failed", endpoint)
            response = JSONResponse(APIError(500, "internal server error", kind="server_error").body(),
                                    status_code=500)
        metrics.requests[(endpoint if endpoint in ROUTES else "other", response.status_code)] += 1
        return response

    async def body(request: Request, schema: type[BaseModel]):
        return parse_body(await read_body(request, max_body_bytes), schema)

    def model(name: str) -> ServedModel:
        if name not in served:
            raise APIError(404, f"the model {name!r} does not exist; this server has {', '.join(served)}",
                           "model", "model_not_found")
        return served[name]

    @app.get("/health")
    async def health():
        return {"status": "ok", "models": list(served)}

    @app.get("/metrics")
    async def prometheus():
        return PlainTextResponse(metrics.render({n: s.engine for n, s in served.items()}),
                                 media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [{"id": n, "object": "model", "created": s.created, "owned_by": "openweight",
                                            "max_context": s.max_context} for n, s in served.items()]}

    @app.get("/v1/models/{name}")
    async def get_model(name: str):
        s = model(name)
        return {"id": name, "object": "model", "created": s.created, "owned_by": "openweight"}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        req = await body(request, ChatCompletionRequest)
        s = model(req.model)
        prompt = chat_completions.chat_prompt(s, req)
        if req.stream:
            return sse(chat_completions.stream(s, req, prompt))
        return await chat_completions.complete(s, req, prompt)

    @app.post("/v1/completions")
    async def complete(request: Request):
        req = await body(request, CompletionRequest)
        s = model(req.model)
        if req.stream:
            return sse(completions.start_stream(s, req))
        return await completions.complete(s, req)

    @app.post("/v1/responses")
    async def create_response(request: Request):
        req = await body(request, ResponsesRequest)
        s = model(req.model)
        turn = responses.prepare(s, req, stored)
        if req.stream:
            return sse(responses.stream(s, req, turn, stored))
        return await responses.complete(s, req, turn, stored)

    @app.get("/v1/responses/{response_id}")
    async def get_response(response_id: str):
        return stored.get(response_id).body

    @app.get("/")
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    ROUTES = {r.path for r in app.routes}
    app.state.served = served
    return app


def check_key(request: Request, api_key: str | None) -> None:
    if api_key is None:
        return
    header = request.headers.get("authorization", "")
    if header != f"Bearer {api_key}":
        raise APIError(401, "missing or wrong API key (send 'Authorization: Bearer <key>')", None,
                       "invalid_api_key", "authentication_error" if header else "invalid_request_error")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"request body of {declared} bytes exceeds the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes, schema: type[BaseModel]):
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise APIError(400, f"the request body is not valid JSON: {e}") from None
    return validate(schema, data)


def sse(events) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def serve(models: dict[str, object], host: str, port: int, **options) -> None:
    import uvicorn

    uvicorn.run(create_app(models, **options), host=host, port=port, log_level="info")
