"""The server alone: an ASGI callable answering every request with a fixed JWKS-sized JSON body, no Django.
The ``servers`` scenario runs it under each candidate server to show what the server itself costs, the floor
under any lean protocol path in front of Django."""

BODY = b'{"keys":[' + b",".join([b'{"kty":"EC","crv":"P-256","x":"' + b"x" * 43 + b'","y":"' + b"y" * 43 +
                                  b'","kid":"' + b"k" * 43 + b'","alg":"ES256","use":"sig"}'] * 3) + b"]}"
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode()),
           (b"cache-control", b"public, max-age=300")]


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
