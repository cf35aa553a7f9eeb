"""``tidb-embed-orm``: the demo and a look at the model registry."""

from __future__ import annotations

import argparse
import os
import sys

from .models import list_models


def _models(args: argparse.Namespace) -> int:
    for model in list_models(args.provider):
        sizes = f"{model.dim}" + (" (selectable)" if model.dims else "")
        tokens = f", max {model.max_input_tokens} tokens" if model.max_input_tokens else ""
        print(f"{model.name}: {sizes} dims, {'/'.join(model.metrics)}{tokens}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo.run import main as run_demo

    key = args.api_key or os.environ.get("TIDB_EMBED_HF_API_KEY") or os.environ.get("HF_TOKEN")
    return run_demo(args.url, key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tidb-embed-orm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the TiDB HuggingFace Embeddings page end to end")
    demo.add_argument("--url", help="a TiDB Cloud URL (mysql+pymysql://...); default: a fresh embedded database")
    demo.add_argument(
        "--api-key", help="HuggingFace key for TiDB Cloud (default: $TIDB_EMBED_HF_API_KEY or $HF_TOKEN)"
    )
    demo.set_defaults(run=_demo)
    models = commands.add_parser("models", help="list the embedding models TiDB's EMBED_TEXT accepts")
    models.add_argument("--provider")
    models.set_defaults(run=_models)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
