"""A client for Search-R1-compatible retrieval servers, so wiki-scale retrievers work unchanged.

The protocol (Search-R1's ``retrieval_server.py``): ``POST /retrieve`` with
``{"queries": [...], "topk": k, "return_scores": true}``; the reply is
``{"result": [[{"document": {"id": ..., "contents": '"Title"\\ntext'}, "score": s}, ...], ...]}``,
one list per query (without scores, each entry is the document itself).
"""

from __future__ import annotations

import hashlib
from typing import Any

from turngym.envs.search_qa.corpus import Corpus, Passage
from turngym.envs.search_qa.retrieval import SearchHit


class RetrievalError(RuntimeError):
    """The retrieval server failed or answered something that is not the protocol."""


class HTTPRetriever:
    """Searches a Search-R1 ``/retrieve`` server.

    Args:
        url: the endpoint, e.g. ``"http://127.0.0.1:8000/retrieve"``.
        corpus: optional local copy of the server's corpus; results whose id it holds
            are returned as its passages (so gold-passage ids match).
        timeout: seconds per request.
    """

    def __init__(self, url: str, *, corpus: Corpus | None = None, timeout: float = 30.0) -> None:
        import requests

        if not url.startswith(("http://", "https://")):
            raise ValueError(f"retriever url must start with http:// or https://, got {url!r}")
        self.url = url
        self.corpus = corpus
        self.timeout = timeout
        self._session = requests.Session()

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """The server's top-``k`` passages for ``query``."""
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: list[str], k: int = 5) -> list[list[SearchHit]]:
        """One request for several queries (what the server is built for)."""
        import requests

        payload = {"queries": list(queries), "topk": int(k), "return_scores": True}
        try:
            response = self._session.post(self.url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise RetrievalError(f"could not reach retrieval server {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise RetrievalError(
                f"retrieval server {self.url} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise RetrievalError(f"retrieval server {self.url} did not answer JSON: {exc}") from exc
        results = body.get("result") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != len(queries):
            raise RetrievalError(
                f"retrieval server {self.url} answered without a 'result' list of {len(queries)} entries"
            )
        return [[self._hit(entry) for entry in per_query[:k]] for per_query in results]

    def _hit(self, entry: Any) -> SearchHit:
        if isinstance(entry, dict) and isinstance(entry.get("document"), dict):
            document, score = entry["document"], float(entry.get("score", 0.0))
        elif isinstance(entry, dict):
            document, score = entry, 0.0
        else:
            raise RetrievalError(f"retrieval server {self.url} sent a result that is not an object: "
                                 f"{entry!r}")
        pid = str(document.get("id", ""))
        local = self.corpus.get(pid) if self.corpus is not None and pid else None
        if local is not None:
            return SearchHit(local, score)
        contents = document.get("contents")
        if not isinstance(contents, str):
            raise RetrievalError(f"retrieval server {self.url} sent a document without 'contents': "
                                 f"{document!r}")
        if not pid:  # a stable id from the text, so evidence and anchors still work
            pid = "remote-" + hashlib.blake2b(contents.encode(), digest_size=8).hexdigest()
        return SearchHit(Passage.from_contents(pid, contents), score)
