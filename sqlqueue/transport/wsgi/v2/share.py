"""Pre-signed URLs: ``POST /v2/queues/{queue_name}/share``."""

from __future__ import annotations

from datetime import UTC, datetime

import falcon

from sqlqueue.transport.wsgi import body, serializers, signing
from sqlqueue.transport.wsgi.context import Request
from sqlqueue.transport.wsgi.v2.base import Resource

SHARE_BODY_MAX = 4096


class Share(Resource):
    """Sign access to some of a queue's paths for some methods until a date."""

    def on_post(self, req: Request, resp: falcon.Response, queue_name: str) -> None:
        """Answer the signature and what it covers."""
        document = body.read_json(req, SHARE_BODY_MAX, required=False)
        now = datetime.fromtimestamp(self._deps.clock(), UTC).replace(tzinfo=None)
        path = serializers.queue_path(queue_name)
        paths, methods, expires = self._validate.share(document, path, now)
        project = req.context.project
        sig = signing.signature(self._deps.secret, paths, methods, project, expires)
        resp.media = serializers.share(project, paths, methods, expires, sig)
