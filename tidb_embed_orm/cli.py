"""``tidb-embed-orm``: the demo and a look at the model registry.

Behaves like its neighbours on the command line: ``--version``; bad input is one line on stderr
and a non-zero exit (``--traceback`` shows the whole story); progress goes to stderr, results to
stdout; a closed pipe (``tidb-embed-orm models | head -1``) ends quietly.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, NoReturn

from .catalog import PROVIDER_KEY_VARIABLES, list_models
from .exc import UnknownProviderError

PROG = "tidb-embed-orm"


def version() -> str:
    """The installed distribution's version (or a note when run from a source tree never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("tidb-embed-orm")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _models(args: argparse.Namespace) -> int:
    if getattr(args, "action", None) == "pull":
        from .embedders.pull import pull_model

        print(pull_model(args.model, progress=not args.quiet))
        return 0
    if args.provider is not None and args.provider not in PROVIDER_KEY_VARIABLES:
        raise UnknownProviderError(
            f"unknown provider {args.provider!r}; known providers: {', '.join(sorted(PROVIDER_KEY_VARIABLES))}"
        )
    for model in list_models(args.provider):
        sizes = f"{model.dim}" + (" (selectable)" if model.dims else "")
        tokens = f", max {model.max_input_tokens} tokens" if model.max_input_tokens else ""
        chars = f", max {model.max_input_chars} characters" if model.max_input_chars else ""
        unverified = " (not in TiDB's docs)" if not model.verified else ""
        print(f"{model.name}: {sizes} dims, {'/'.join(model.metrics)}{tokens}{chars}{unverified}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo.run import main as run_demo

    key = args.api_key or os.environ.get("TIDB_EMBED_HF_API_KEY") or os.environ.get("HF_TOKEN")
    return run_demo(args.url, key)


def _add_global_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--traceback", action="store_true", default=default, help="show the full traceback of an error")
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help="no progress messages on stderr")


def _global_flags_everywhere(parser: argparse.ArgumentParser) -> None:
    """``-q`` and ``--traceback`` after any subcommand too (``demo -q``), as git and pip take theirs.

    A subcommand's copy defaults to SUPPRESS, so it sets the flag only when given there and never
    resets what was given before the subcommand.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in dict.fromkeys(action.choices.values()):
                _add_global_flags(subparser, argparse.SUPPRESS)
                _global_flags_everywhere(subparser)


def build_parser() -> argparse.ArgumentParser:
    """The command line: global flags (taken before or after a subcommand), ``demo`` and ``models``."""
    parser = _Parser(prog=PROG, description="TiDB Auto Embedding for SQLAlchemy: the demo and the model registry.")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    _add_global_flags(parser, False)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = commands.add_parser("demo", help="run the TiDB HuggingFace Embeddings page end to end")
    demo.add_argument(
        "--url",
        help="a TiDB Cloud URL (mysql+pymysql://...); the demo uses its own uniquely named tables there "
        "and drops them afterwards. Default: a fresh embedded database",
    )
    demo.add_argument(
        "--api-key", help="HuggingFace key for TiDB Cloud (default: $TIDB_EMBED_HF_API_KEY or $HF_TOKEN)"
    )
    demo.set_defaults(run=_demo)
    models = commands.add_parser("models", help="list the embedding models TiDB's EMBED_TEXT accepts")
    models.add_argument("--provider", help=f"one of: {', '.join(sorted(PROVIDER_KEY_VARIABLES))}")
    models.set_defaults(run=_models)
    model_actions = models.add_subparsers(dest="action", parser_class=_Parser)
    pull = model_actions.add_parser(
        "pull", help="download a huggingface/<org>/<name> model into the HuggingFace cache (size announced first)"
    )
    pull.add_argument("model", help="for example huggingface/BAAI/bge-m3")
    _global_flags_everywhere(parser)  # last: every subcommand added above takes them
    return parser


def _show_progress(quiet: bool) -> None:
    """Model loading, long embedding runs and rebuilds report on stderr through the library's logger."""
    logger = logging.getLogger("tidb_embed_orm")
    if quiet or logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 2000 else text[:1997] + "..."


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (errors are one line on stderr)."""
    args = build_parser().parse_args(argv)
    _show_progress(args.quiet)
    try:
        status = int(args.run(args))
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader went away (| head): nothing more to say. Point stdout at devnull so that the
        # interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.traceback:
            raise
        print(f"{PROG}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
