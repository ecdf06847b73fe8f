"""Token data for language modelling: nanoGPT-style uint16 memmaps.

A prepared set is a folder with ``train.bin`` and ``val.bin`` (flat uint16 token ids,
documents separated by the tokenizer's end-of-text token) and ``meta.json`` (tokenizer,
vocab size, token counts, source, and any notice such as a tokenizer fallback). For
``openwebtext`` meta.json is optional: the bins nanoGPT's ``data/openwebtext/prepare.py``
writes (GPT-2 BPE, no meta file) are read as they are, with ``NANOGPT_META``; a meta.json
beside them may set ``vocab_size``, ``tokenizer``, ``eot_token`` (and must say ``dtype``
"uint16" if it says a dtype).

- ``openwebtext``: ``python -m suite data prepare openwebtext`` reads the corpus with
  HuggingFace ``datasets`` (optional extra ``pip install activation-suite[data]``) and
  tokenises it with tiktoken's GPT-2 BPE, like nanoGPT's prepare.py.
- ``local-text``: a folder of local text files (``data prepare text --source DIR``), or by
  default a deterministic few-MB subset of the Python standard library's sources, built on
  first use. The default uses byte-level tokens so that the embedded benchmark is the same
  on every machine whatever tiktoken has cached.

Offline, tiktoken cannot download GPT-2's BPE files; the prepare step then falls back to
byte-level tokens (vocab 256) and records that in meta.json.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from suite.data import TokenData, missing_data, register_dataset
from suite.data.storage import atomic_write_text
from suite.errors import SuiteError, bad_value

TOKENIZERS = ("gpt2", "bytes")
OPENWEBTEXT_HUB = "Skylion007/openwebtext"
DEFAULT_LOCAL_BYTES = 3_000_000  # size of the default standard-library corpus
VAL_PERCENT = 10  # share of documents (by a hash of their name) in the validation split


@dataclass(frozen=True)
class Tokenizer:
    name: str
    vocab_size: int
    eot: int
    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]
    notice: str = ""


def byte_tokenizer(notice: str = "") -> Tokenizer:
    """UTF-8 bytes as tokens; NUL (0) separates documents (it does not occur in text)."""
    return Tokenizer(
        name="bytes", vocab_size=256, eot=0,
        encode=lambda s: list(s.encode("utf-8")),
        decode=lambda ids: bytes(int(i) for i in ids).decode("utf-8", errors="replace"),
        notice=notice,
    )


def get_tokenizer(name: str) -> Tokenizer:
    """``gpt2`` (tiktoken BPE, falling back to bytes when its files can't be had) or ``bytes``."""
    if name == "bytes":
        return byte_tokenizer()
    if name != "gpt2":
        raise bad_value("tokenizer", name, f"one of {', '.join(TOKENIZERS)}")
    try:
        import tiktoken

        enc = tiktoken.get_encoding("gpt2")
    except Exception as exc:  # offline: tiktoken tries to download vocab.bpe/encoder.json
        return byte_tokenizer(
            notice=f"tiktoken's GPT-2 BPE could not be loaded ({type(exc).__name__}); fell back to "
            "byte-level tokens (vocab 256). Set TIKTOKEN_CACHE_DIR to a folder holding its files "
            "to use GPT-2 BPE."
        )
    return Tokenizer(
        name="gpt2", vocab_size=enc.n_vocab, eot=enc.eot_token,
        encode=enc.encode_ordinary, decode=enc.decode,
    )


def is_val_document(key: str) -> bool:
    """A stable split decision per document (sha256 of its name, never Python's hash())."""
    return hashlib.sha256(key.encode("utf-8")).digest()[0] * 100 < VAL_PERCENT * 256


def write_token_bins(documents: Iterable[tuple[str, str | list[int]]], out_dir: Path, tokenizer: Tokenizer,
                     source: str, pretokenized: bool = False) -> dict:
    """Tokenise ``(key, text)`` documents into ``out_dir``/{train,val}.bin + meta.json
    (``pretokenized``: the documents are token id lists already).

    Tokens are appended to the memmap files as they come, so a corpus far larger than
    memory streams through; meta.json is written last, marking the set complete.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0}
    # one temporary name per process: two launches building the set at once must not
    # write into the same file (each renames its own complete copy into place)
    tmp = {s: out_dir / f".{s}.bin.{os.getpid()}.tmp" for s in counts}
    files = {s: open(tmp[s], "wb") for s in counts}
    try:
        try:
            for key, text in documents:
                split = "val" if is_val_document(key) else "train"
                tokens = list(text) if pretokenized else tokenizer.encode(text)
                ids = np.asarray(tokens + [tokenizer.eot], dtype=np.uint16)
                files[split].write(ids.tobytes())
                counts[split] += len(ids)
        finally:
            for f in files.values():
                f.close()
        if counts["train"] == 0 or counts["val"] == 0:
            raise SuiteError(
                f"text source {source!r} gave {counts['train']} training and {counts['val']} validation "
                "tokens; expected some of both (give it more documents)."
            )
        for s in counts:
            tmp[s].replace(out_dir / f"{s}.bin")
    finally:  # a failed or interrupted build leaves no temporary files behind
        for path in tmp.values():
            path.unlink(missing_ok=True)
    meta = {
        "tokenizer": tokenizer.name, "vocab_size": tokenizer.vocab_size, "eot_token": tokenizer.eot,
        "dtype": "uint16", "train_tokens": counts["train"], "val_tokens": counts["val"],
        "source": source, "notice": tokenizer.notice,
    }
    atomic_write_text(out_dir / "meta.json", json.dumps(meta, indent=1))
    return meta


# What bins with no meta.json hold: nanoGPT's openwebtext/prepare.py writes GPT-2 BPE ids
# (tiktoken "gpt2", vocab 50257, end-of-text 50256 after each document) as uint16 and no meta.
NANOGPT_META = {"tokenizer": "gpt2", "vocab_size": 50257, "eot_token": 50256, "dtype": "uint16",
                "source": "train.bin/val.bin without meta.json: GPT-2 BPE as nanoGPT's prepare.py writes it"}
META_FIELDS = ("tokenizer", "vocab_size", "eot_token", "dtype", "train_tokens", "val_tokens", "source", "notice")
CHECKED_TOKENS = 1 << 20  # ids checked against the vocabulary (a prefix: the full set is 9 B tokens)


def read_token_bins(folder: Path, default_meta: dict | None = None) -> TokenData:
    """The memmaps of ``folder``; its meta.json, else ``default_meta`` (bins as nanoGPT writes them)."""
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        try:
            meta = {**(default_meta or {}), **json.loads(meta_path.read_text())}
        except json.JSONDecodeError as exc:
            raise SuiteError(f"token set meta file {str(meta_path)!r} is not valid JSON ({exc}); expected an "
                             f"object with some of {', '.join(META_FIELDS)}, or no meta.json.") from None
    elif default_meta is not None:
        meta = dict(default_meta)
    else:
        raise SuiteError(f"token set {str(folder)!r} has no meta.json; expected one beside train.bin and val.bin.")
    if meta.get("dtype", "uint16") != "uint16":
        raise bad_value(f"dtype in {str(meta_path)!r}", meta["dtype"], "'uint16' (nanoGPT's token files)")
    bins = {}
    for split in ("train", "val"):
        path = folder / f"{split}.bin"
        size = path.stat().st_size
        if size == 0 or size % 2:
            raise SuiteError(f"token file {str(path)!r} has {size} bytes; expected a non-empty file of "
                             "uint16 token ids (an even number of bytes).")
        bins[split] = np.memmap(path, dtype=np.uint16, mode="r")
    vocab = int(meta["vocab_size"])
    top = max(int(bins[s][:CHECKED_TOKENS].max()) for s in bins)
    if top >= vocab:
        raise SuiteError(f"token set {str(folder)!r} holds token id {top}, beyond its vocabulary of {vocab} "
                         f"({'meta.json' if meta_path.is_file() else 'GPT-2 BPE, assumed without meta.json'}); "
                         "expected ids below vocab_size: write the right vocab_size into meta.json.")
    return TokenData(train=bins["train"], val=bins["val"], vocab_size=vocab, meta=meta)


def is_prepared(folder: Path, meta_required: bool = True) -> bool:
    names = ("train.bin", "val.bin") + (("meta.json",) if meta_required else ())
    return all((folder / f).is_file() for f in names)


# ---------------------------------------------------------------------------- local text
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".py", ".json", ".csv", ".html", ".tex")


def text_files(source: Path, suffixes: tuple[str, ...] = TEXT_SUFFIXES) -> list[Path]:
    return sorted(p for p in Path(source).rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def stdlib_files(max_bytes: int = DEFAULT_LOCAL_BYTES) -> list[Path]:
    """A deterministic subset of the standard library's .py files (tests and vendored code out)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    chosen, total = [], 0
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib).parts
        if rel[0] in ("site-packages", "dist-packages", "test", "idlelib", "lib2to3") or "tests" in rel:
            continue
        chosen.append(path)
        total += path.stat().st_size
        if total >= max_bytes:
            break
    return chosen


def read_documents(files: list[Path], root: Path) -> Iterator[tuple[str, str]]:
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if text.strip():
            yield path.relative_to(root).as_posix(), text


def prepare_text(out_dir: Path, source: Path | None = None, tokenizer: str = "bytes",
                 max_bytes: int = DEFAULT_LOCAL_BYTES) -> dict:
    """Build a token set from a folder of text files (default: the standard library)."""
    tok = get_tokenizer(tokenizer)
    if source is None:
        root = Path(sysconfig.get_paths()["stdlib"])
        files, label = stdlib_files(max_bytes), f"python-stdlib:{root}"
    else:
        root = Path(source).expanduser()
        if not root.is_dir():
            raise bad_value("text source folder", str(root), "an existing folder of text files")
        files, label = text_files(root), str(root.resolve())
        if not files:
            raise bad_value("text source folder", str(root), f"a folder holding files ending in {', '.join(TEXT_SUFFIXES)}")
    return write_token_bins(read_documents(files, root), out_dir, tok, label)


@register_dataset(
    "local-text", task="lm", kind="embedded",
    description="local text as byte tokens (default: ~3 MB of Python's standard library sources)",
    present=lambda root: True,
)
def load_local_text(root: Path, **_) -> TokenData:
    folder = root / "local-text"
    if not is_prepared(folder):
        prepare_text(folder)
    return read_token_bins(folder)


# ---------------------------------------------------------------------------- openwebtext
def _encode_batch(batch: dict, tokenizer: str) -> dict:
    """Dataset.map worker: a module-level function, so worker processes import it by name."""
    encode = _cached_tokenizer(tokenizer).encode
    return {"ids": [encode(t) for t in batch["text"]]}


@functools.lru_cache(maxsize=None)
def _cached_tokenizer(name: str) -> Tokenizer:
    return get_tokenizer(name)


def prepare_openwebtext(out_dir: Path, source: str | None = None, tokenizer: str = "gpt2",
                        num_proc: int = 1) -> dict:
    """nanoGPT's OpenWebText prepare: HF ``datasets`` + GPT-2 BPE into uint16 memmaps.

    source: a folder written by ``Dataset.save_to_disk``, a folder of ``.txt`` files (one
    document each), a folder of data files (parquet/json) or a hub name; default the hub's ``Skylion007/openwebtext`` (needs
    network). Tokenisation runs in ``num_proc`` processes (``Dataset.map``); documents
    are then streamed into the memmaps in order, split by a hash of their index.
    """
    try:
        import datasets
    except ImportError as exc:
        raise SuiteError(
            "preparing 'openwebtext' needs the HuggingFace 'datasets' package, which is not installed; "
            "install it with pip install 'activation-suite[data]'."
        ) from exc
    tok = get_tokenizer(tokenizer)
    name = source or OPENWEBTEXT_HUB
    local = Path(name).expanduser()
    if any((local / marker).is_file() for marker in ("dataset_info.json", "dataset_dict.json")):  # save_to_disk
        ds = datasets.load_from_disk(str(local))
    elif local.is_dir() and text_files(local, (".txt",)):
        # raw text files (OpenWebText's own archives unpack to one .txt per web page): one
        # document per file, where HF's default "text" builder would make one per line
        ds = datasets.load_dataset("text", data_files=[str(p) for p in text_files(local, (".txt",))],
                                   sample_by="document", num_proc=num_proc if num_proc > 1 else None)
    else:
        ds = datasets.load_dataset(str(local) if local.is_dir() else name, num_proc=num_proc)
    if isinstance(ds, datasets.DatasetDict):
        ds = datasets.concatenate_datasets([ds[k] for k in sorted(ds)])
    if "text" not in ds.column_names:
        raise bad_value("OpenWebText source", name, f"a data set with a 'text' column (it has {ds.column_names})")
    tokenized = ds.map(_encode_batch, batched=True, fn_kwargs={"tokenizer": tok.name}, remove_columns=ds.column_names,
                       num_proc=num_proc if num_proc > 1 else None, desc="tokenising")

    def documents():
        for i, row in enumerate(tokenized):
            yield f"owt-{i}", row["ids"]

    return write_token_bins(documents(), out_dir, tok, f"openwebtext:{name}", pretokenized=True)


@register_dataset(
    "openwebtext", task="lm", kind="external",
    description="OpenWebText as GPT-2 BPE tokens: nanoGPT's train.bin/val.bin, or python -m suite data prepare openwebtext",
    present=lambda root: is_prepared(root / "openwebtext", meta_required=False),
)
def load_openwebtext(root: Path, **_) -> TokenData:
    """nanoGPT's bins as they are (GPT-2 BPE, no meta.json needed) or the suite's prepared set."""
    folder = root / "openwebtext"
    if not is_prepared(folder, meta_required=False):
        raise missing_data(
            "openwebtext", [folder / "train.bin", folder / "val.bin"],
            "<root>/openwebtext/{train.bin,val.bin} (nanoGPT's data/openwebtext/prepare.py output; meta.json optional)",
            extra=", or prepare it with python -m suite data prepare openwebtext [--source DIR]",
        )
    return read_token_bins(folder, default_meta=NANOGPT_META)
