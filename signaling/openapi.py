"""The OpenAPI 3 document served at /api/openapi.json. Tests validate real
responses against it, and a schemathesis run explores it for server errors."""

from __future__ import annotations

from typing import Any

from cloudrec import __version__

_INT = {"type": "integer"}
_STR = {"type": "string"}
_NUM = {"type": "number"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _record(**properties: dict[str, Any]) -> dict[str, Any]:
    """An object that always has all of ``properties``."""
    return {"type": "object", "required": list(properties), "properties": properties}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {
        400: "bad parameters",
        401: "no or wrong credentials",
        403: "a grant is missing",
        404: "not found",
        409: "conflict (already recording, file exists)",
        500: "the server failed, or the room's recorder is reconnecting",
        501: "feature not enabled",
        503: "no recorder capacity",
        507: "disk or quota full",
    }
    return {str(s): _json(_ref("Error"), names[s]) for s in statuses}


_ROOM = {
    "name": "room",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^/]+$"},
}
_RESOURCE_ROOM = {
    "name": "room",
    "in": "query",
    "required": False,
    "schema": _STR,
    "description": "whose images (a token's own room by default; the API key's: shared)",
}
_SEGMENT = [
    {
        "name": "folder",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^\\.[^/]+\\.m3u8\\.segments$"},
    },
    {
        "name": "segment",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]{5}\\.ts$"},
    },
]
_BINARY = {"type": "string", "format": "binary"}
_SIGNED = [
    {"name": "expires", "in": "query", "required": True, "schema": _INT},
    {"name": "signature", "in": "query", "required": True, "schema": _STR},
]
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
}
_MIXER_STATE = _json(_ref("MixerState"), "the mixer's state and its outputs")

SCHEMAS: dict[str, Any] = {
    "Error": _record(err=_INT, message=_STR),
    "OutputInfo": _record(
        id=_STR,
        fileName=_STR,
        state={"type": "integer", "minimum": 0, "maximum": 7},
        duration=_INT,
        fileSize=_INT,
        errCode=_INT,
    ),
    "MixerState": _record(
        state={"type": "integer", "enum": [0, 1, 2, 3, 4]},
        outputs={"type": "array", "items": _ref("OutputInfo")},
        stats={
            "type": "object",
            "properties": {
                "tiles": {
                    "type": "array",
                    "description": "each video content of each mixer: ms shown, frozen"
                    " (on a frame that arrived over 250 ms before) and as a placeholder",
                    "items": _record(
                        mixerId=_STR,
                        source=_STR,
                        shownMs=_INT,
                        frozenMs=_INT,
                        placeholderMs=_INT,
                    ),
                }
            },
            "additionalProperties": {"type": "integer"},
            "description": "the recorder's counters: videoTicks, lateVideoTicks, "
            "lateAudioTicks, framesEncoded, framesDropped, framesRepeated, "
            "audioUnderruns, audioConcealedMs, audioStretchedMs, playoutDelayMs, "
            "liveFramesDropped, packetsReceived, uploadBytes, uploadRetries, uploadFailures, "
            "frozenMs, placeholderMs (over all tiles), and tiles",
        },
        worker={
            "type": ["string", "null"],
            "description": "the cluster worker recording the room (null: none, or this machine)",
        },
    ),
    "StartBody": {
        "type": "object",
        "required": ["cfgs", "outputs"],
        "description": "SPEC §2 wire format",
        "properties": {
            "cfgs": {"type": "array", "items": {"type": "object"}},
            "contents": {"type": "array", "items": {"type": "object"}},
            "outputs": {"type": "array", "items": {"type": "object"}},
        },
    },
    "UpdateBody": _record(contents={"type": "array", "items": {"type": "object"}}),
    "Participant": _record(
        userID=_STR,
        role={"type": "string", "enum": ["participant", "recorder"]},
        tracks={"type": "array", "items": {"type": "object"}},
    ),
    "Room": {
        "type": "object",
        "required": ["room", "participants", "mixerState"],
        "properties": {
            "room": _STR,
            "mixerState": _INT,
            "participants": {"type": "array", "items": _ref("Participant")},
        },
    },
    "Recording": {
        "type": "object",
        "required": [
            "id",
            "room",
            "mixerId",
            "fileName",
            "container",
            "fileSize",
            "duration",
            "createdAt",
            "state",
            "errCode",
            "downUrl",
        ],
        "properties": {
            "id": _INT,
            "room": _STR,
            "mixerId": _STR,
            "fileName": _STR,
            "container": _STR,
            "videoCodec": {"type": ["string", "null"]},
            "audioCodec": {"type": ["string", "null"]},
            "width": {"type": ["integer", "null"]},
            "height": {"type": ["integer", "null"]},
            "fps": {"type": ["number", "null"]},
            "fileSize": {**_INT, "description": "bytes"},
            "duration": {**_INT, "description": "ms"},
            "createdAt": {**_NUM, "description": "epoch seconds"},
            "finishedAt": {"type": ["number", "null"]},
            "state": {
                "type": "string",
                "enum": ["recording", "finished", "interrupted", "failed", "missing", "imported"],
            },
            "errCode": _INT,
            "downUrl": {"type": "string", "format": "uri"},
            "session": {**_STR, "description": "shared by the parts of one recording"},
            "part": {**_INT, "description": "1, or past it once the recording moved worker"},
            "stored": {"type": "boolean", "description": "whether it is in the object store"},
            "expiresAt": {
                "type": ["number", "null"],
                "description": "when it is deleted (epoch s); null: as --retention-days says",
            },
            "pictures": {
                "type": "array",
                "description": "GET of a snapshot output (.jpg): its pictures in order, each"
                " served at /api/v1/recordings/{id}/{picture}",
                "items": _STR,
            },
            "parts": {
                "type": "array",
                "description": "GET of one recording: every part of it, in order",
                "items": _record(id=_INT, part=_INT, fileName=_STR),
            },
        },
    },
    "Expiry": {
        "type": "object",
        "required": ["expiresAt"],
        "additionalProperties": False,
        "properties": {
            "expiresAt": {
                "type": ["number", "null"],
                "minimum": 0,
                "maximum": 1e11,
                "description": "epoch seconds; null: as the retention period says",
            }
        },
    },
    "Delivery": _record(
        id={**_STR, "description": "the webhook-id header; RECORD_FINISH: sdk_..."},
        type=_STR,
        state={"type": "string", "enum": ["pending", "delivered", "givenUp"]},
        attempts=_INT,
        lastError=_STR,
        createdAt=_NUM,
        nextAttemptAt={"type": ["number", "null"]},
        deliveredAt={"type": ["number", "null"]},
        body={"type": "object", "description": "what is (or was) sent"},
    ),
    "DeliveryPage": _record(
        deliveries={"type": "array", "items": _ref("Delivery")},
        total=_INT,
        page=_INT,
        pageSize=_INT,
    ),
    "Readiness": _record(ready={"type": "boolean"}, problems={"type": "array", "items": _STR}),
    "RecordingPage": _record(
        recordings={"type": "array", "items": _ref("Recording")},
        total=_INT,
        page=_INT,
        pageSize=_INT,
        asOf=_NUM,
    ),
    "Resource": {
        "type": "object",
        "required": ["resourceid", "width", "height"],
        "properties": {
            "resourceid": _STR,
            "room": {"type": ["string", "null"], "description": "null: shared by every room"},
            "width": _INT,
            "height": _INT,
            "size": _INT,
        },
    },
    "NetdiskAnswer": {
        "type": "object",
        "required": ["RspCode", "RspDesc"],
        "properties": {
            "RequestId": {},
            "RspCode": {"type": "integer", "enum": [0, 1, 2, 3, 4, 5]},
            "RspDesc": _STR,
            "Data": {"type": "object"},
        },
    },
    "NetdiskQuery": {
        "type": "object",
        "required": ["CompID", "SecretKey"],
        "properties": {
            "RequestId": _STR,
            "CompID": _STR,
            "SecretKey": _STR,
            "FileName": _STR,
            "FilePath": _STR,
            "SearchTime": _INT,
            "PageNumber": {"type": "integer", "minimum": 1},
            "PageSize": {"type": "integer", "minimum": 1, "maximum": 50},
        },
    },
    "NetdiskDelete": {
        "type": "object",
        "required": ["CompID", "SecretKey"],
        "properties": {
            "RequestId": _STR,
            "CompID": _STR,
            "SecretKey": _STR,
            "FileName": _STR,
            "FileID": _INT,
        },
    },
}


_PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    {
        "name": "pageSize",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
    },
]


def _page_params() -> list[dict[str, Any]]:
    return [
        {"name": "room", "in": "query", "schema": _STR},
        {
            "name": "since",
            "in": "query",
            "schema": _NUM,
            "description": "created at or after (epoch s)",
        },
        {
            "name": "until",
            "in": "query",
            "schema": _NUM,
            "description": "created at or before (epoch s)",
        },
        {"name": "name", "in": "query", "schema": _STR, "description": "part of the file name"},
        {
            "name": "asOf",
            "in": "query",
            "schema": _NUM,
            "description": "pin paging to recordings created by then (answer's asOf)",
        },
        *_PAGING,
    ]


def openapi_document() -> dict[str, Any]:
    mixer = "/api/v1/rooms/{room}/mixer"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cloudrec",
            "version": __version__,
            "description": "Cloud recording for WebRTC rooms: svrMixer control, recordings.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "API key : API secret",
                },
                "token": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        "security": [{"apiKey": []}, {"token": []}],
        "paths": {
            mixer: {
                "parameters": [_ROOM],
                "post": {
                    "summary": "startSvrMixer",
                    "operationId": "startSvrMixer",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("StartBody")}},
                    },
                    "responses": {
                        "200": _MIXER_STATE,
                        **_errors(400, 401, 403, 404, 409, 501, 503, 507),
                    },
                },
                "put": {
                    "summary": "updateSvrMixerContent",
                    "operationId": "updateSvrMixerContent",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("UpdateBody")}},
                    },
                    "responses": {"200": _MIXER_STATE, **_errors(400, 401, 403, 501)},
                },
                "get": {
                    "summary": "getSvrMixerState",
                    "operationId": "getSvrMixerState",
                    "responses": {"200": _MIXER_STATE, **_errors(401, 403)},
                },
                "delete": {
                    "summary": "stopSvrMixer",
                    "operationId": "stopSvrMixer",
                    "responses": {"200": _MIXER_STATE, **_errors(401, 403)},
                },
            },
            f"{mixer}/pause": {
                "parameters": [_ROOM],
                "post": {
                    "summary": "pauseSvrMixer: nothing of the room is recorded until resumed",
                    "operationId": "pauseSvrMixer",
                    "responses": {"200": _MIXER_STATE, **_errors(400, 401, 403, 500)},
                },
            },
            f"{mixer}/resume": {
                "parameters": [_ROOM],
                "post": {
                    "summary": "resumeSvrMixer: the files go on from where they paused",
                    "operationId": "resumeSvrMixer",
                    "responses": {"200": _MIXER_STATE, **_errors(400, 401, 403, 500)},
                },
            },
            "/api/v1/rooms/{room}": {
                "parameters": [_ROOM],
                "get": {
                    "summary": "participants and their tracks",
                    "operationId": "getRoom",
                    "responses": {"200": _json(_ref("Room"), "the room"), **_errors(401, 403, 404)},
                },
            },
            "/api/v1/recordings": {
                "get": {
                    "summary": "list recordings, newest first",
                    "operationId": "listRecordings",
                    "parameters": _page_params(),
                    "responses": {
                        "200": _json(_ref("RecordingPage"), "a page"),
                        **_errors(400, 401, 403),
                    },
                },
            },
            "/api/v1/recordings/{id}": {
                "parameters": [_ID],
                "get": {
                    "summary": "one recording",
                    "operationId": "getRecording",
                    "responses": {
                        "200": _json(_ref("Recording"), "the recording"),
                        **_errors(400, 401, 403, 404),
                    },
                },
                "delete": {
                    "summary": "delete the file and its row",
                    "operationId": "deleteRecording",
                    "responses": {
                        "200": _json(_record(deleted=_INT), "deleted"),
                        **_errors(400, 401, 403, 404),
                    },
                },
                "patch": {
                    "summary": "set when the recording is deleted",
                    "operationId": "setRecordingExpiry",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Expiry")}},
                    },
                    "responses": {
                        "200": _json(_ref("Recording"), "the recording"),
                        **_errors(400, 401, 403, 404),
                    },
                },
            },
            "/api/v1/webhooks/deliveries": {
                "get": {
                    "summary": "the webhook outbox, newest first: each delivery's attempts"
                    " and last error (the API key only)",
                    "operationId": "listWebhookDeliveries",
                    "parameters": [
                        {
                            "name": "state",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["pending", "delivered", "givenUp"],
                            },
                        },
                        *_PAGING,
                    ],
                    "responses": {
                        "200": _json(_ref("DeliveryPage"), "a page"),
                        **_errors(400, 401, 403),
                    },
                },
            },
            "/api/v1/recordings/{id}/download": {
                "parameters": [_ID],
                "get": {
                    "summary": "the file (Range, ETag)",
                    "operationId": "downloadRecording",
                    "responses": {
                        "200": {"description": "the file"},
                        "302": {"description": "in the object store: a presigned link to it"},
                        "206": {"description": "the requested range"},
                        "304": {"description": "not modified (If-None-Match)"},
                        "416": {"description": "range not satisfiable"},
                        **_errors(400, 401, 403, 404),
                    },
                },
            },
            "/api/v1/recordings/{id}/poster": {
                "parameters": [_ID],
                "get": {
                    "summary": "a picture of a video recording, about a second in (JPEG)",
                    "operationId": "getPoster",
                    "responses": {
                        "200": {
                            "description": "the picture",
                            "content": {
                                "image/jpeg": {"schema": {"type": "string", "format": "binary"}}
                            },
                        },
                        **_errors(400, 401, 403, 404),
                    },
                },
            },
            "/api/v1/resources": {
                "parameters": [_RESOURCE_ROOM],
                "post": {
                    "summary": "register an image for MIXVTP_PIC (PNG or JPEG body)",
                    "operationId": "addResource",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "image/png": {"schema": {"type": "string", "format": "binary"}},
                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "responses": {
                        "201": _json(_ref("Resource"), "registered"),
                        **_errors(400, 401, 403),
                    },
                },
                "get": {
                    "summary": "registered images",
                    "operationId": "listResources",
                    "responses": {
                        "200": _json(
                            _record(resources={"type": "array", "items": _ref("Resource")}),
                            "the images",
                        ),
                        **_errors(400, 401, 403),
                    },
                },
            },
            "/api/v1/resources/{id}": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": _STR},
                    _RESOURCE_ROOM,
                ],
                "delete": {
                    "summary": "unregister an image",
                    "operationId": "deleteResource",
                    "responses": {
                        "200": _json(_record(deleted=_STR), "deleted"),
                        **_errors(400, 401, 403, 404),
                    },
                },
            },
            "/api/v1/recordings/{id}/{folder}/{segment}": {
                "parameters": [_ID, *_SEGMENT],
                "get": {
                    "summary": "a segment of an HLS recording (as its playlist names it)",
                    "operationId": "getSegment",
                    "responses": {
                        "200": {"description": "the segment (video/mp2t)"},
                        "206": {"description": "the requested range"},
                        **_errors(400, 401, 403, 404),
                    },
                },
            },
            "/api/info": {
                "get": {
                    "summary": "whether this server runs in --dev mode, and its version",
                    "operationId": "getInfo",
                    "security": [],
                    "responses": {
                        "200": _json(
                            _record(dev={"type": "boolean"}, version=_STR),
                            "public facts the page shows",
                        )
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (text format)",
                    "operationId": "getMetrics",
                    "security": [],
                    "responses": {"200": {"description": "the metrics, text/plain"}},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "whether the process answers",
                    "operationId": "getHealth",
                    "security": [],
                    "responses": {"200": _json(_record(ok={"type": "boolean"}), "it does")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "whether it can work: the index reads; in a cluster, Redis "
                    "answers and a worker takes jobs",
                    "operationId": "getReady",
                    "security": [],
                    "responses": {
                        "200": _json(_ref("Readiness"), "ready"),
                        "503": _json(_ref("Readiness"), "not ready, and why"),
                    },
                }
            },
            "/download/{id}": {
                "parameters": [_ID, *_SIGNED],
                "get": {
                    "summary": "a recording by its signed link (downUrl); no other credentials",
                    "operationId": "signedDownload",
                    "security": [],
                    "responses": {
                        "200": {"description": "the file"},
                        "302": {"description": "in the object store: a presigned link to it"},
                        "206": {"description": "the requested range"},
                        "416": {"description": "range not satisfiable"},
                        **_errors(400, 403, 404),
                    },
                },
            },
            "/download/{id}/{folder}/{segment}": {
                "parameters": [_ID, *_SEGMENT, *_SIGNED],
                "get": {
                    "summary": "a segment of an HLS recording by its signed link",
                    "operationId": "signedSegment",
                    "security": [],
                    "responses": {
                        "200": {"description": "the segment (video/mp2t)"},
                        "206": {"description": "the requested range"},
                        **_errors(400, 403, 404),
                    },
                },
            },
            "/CLOUDROOM-API/netDisk/query": {
                "post": {
                    "summary": "netdisk query (SDK compatible)",
                    "operationId": "netdiskQuery",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NetdiskQuery")}},
                    },
                    "responses": {"200": _json(_ref("NetdiskAnswer"), "RspCode 0 on success")},
                },
            },
            "/CLOUDROOM-API/netDisk/delete": {
                "post": {
                    "summary": "netdisk delete (SDK compatible)",
                    "operationId": "netdiskDelete",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NetdiskDelete")}},
                    },
                    "responses": {"200": _json(_ref("NetdiskAnswer"), "RspCode 0 on success")},
                },
            },
        },
    }
