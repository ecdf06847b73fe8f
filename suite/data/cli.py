"""`python -m suite data prepare|check`: build token sets, check a data set is readable."""
from __future__ import annotations

from pathlib import Path


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("data", help="prepare or check data sets (see docs/readme/data-tasks.md)")
    sub = p.add_subparsers(dest="data_command", required=True)
    prep = sub.add_parser("prepare", help="tokenise a text corpus into uint16 memmaps")
    prep.add_argument("name", choices=["openwebtext", "text"])
    prep.add_argument("--source", default=None,
                      help="openwebtext: a local HF dataset folder (default: download); text: a folder of text files")
    prep.add_argument("--tokenizer", choices=["gpt2", "bytes"], default=None,
                      help="default gpt2 for openwebtext, bytes for text")
    prep.add_argument("--num-proc", type=int, default=1, help="processes for HF datasets")
    _data_root_option(prep)
    prep.set_defaults(func=cmd_prepare)
    check = sub.add_parser("check", help="load a data set and print its sizes")
    check.add_argument("name")
    _data_root_option(check)
    check.set_defaults(func=cmd_check)


def _data_root_option(parser) -> None:
    parser.add_argument("--data-root", default=None,
                        help="data root (default: $SUITE_DATA, else ./data if it exists, else ~/.cache/suite-data)")


def cmd_prepare(args) -> int:
    from suite.data import data_root
    from suite.data.text import prepare_openwebtext, prepare_text

    root = data_root(args.data_root)
    if args.name == "openwebtext":
        meta = prepare_openwebtext(root / "openwebtext", args.source, args.tokenizer or "gpt2", args.num_proc)
        out = root / "openwebtext"
    else:
        out = root / "local-text"
        meta = prepare_text(out, Path(args.source) if args.source else None, args.tokenizer or "bytes")
    print(f"wrote {out}: {meta['train_tokens']} train / {meta['val_tokens']} val tokens, "
          f"tokenizer {meta['tokenizer']} (vocab {meta['vocab_size']})")
    if meta.get("notice"):
        print(f"notice: {meta['notice']}")
    return 0


def cmd_check(args) -> int:
    """Load the set and read the first item of each split: an unreadable image or a
    wrong layout fails here, in seconds, rather than in the first training step."""
    from suite.data import DATASETS, data_root, load

    name = DATASETS.resolve(args.name)
    bundle = load(name, args.data_root)
    sizes = {k: len(getattr(bundle, k)) for k in ("train", "val")}
    extra = {k: getattr(bundle, k) for k in ("num_classes", "vocab_size") if hasattr(bundle, k)}
    shapes = {k: _first_shape(getattr(bundle, k)) for k in ("train", "val")}
    print(f"{name} in {data_root(args.data_root)}: train {sizes['train']}, val {sizes['val']}, "
          + ", ".join(f"{k} {v}" for k, v in extra.items())
          + "".join(f"; first {k} item {s}" for k, s in shapes.items() if s))
    return 0


def _first_shape(split) -> str:
    item = split[0]
    if isinstance(item, tuple) and hasattr(item[0], "shape"):  # (image, label or target)
        return str(tuple(item[0].shape))
    return ""
