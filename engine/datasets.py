"""Datasets by name or path: find them on disk (or download a public BEIR set when asked) and
import them into the store.

Finding and fetching are not storage, so they live here; the store only recognises, validates
and reads the files it is given (``store.corpus``).
"""

from __future__ import annotations

import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from store import AugplanError, Store
from store import corpus as corpus_io
from store.corpus import CorpusSummary

#: Base URL of the public BEIR zips; ``$AUGPLAN_BEIR_URL`` overrides it.
BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets"
#: BEIR datasets that can be downloaded from ``BEIR_URL`` as ``{name}.zip``.
BEIR_DATASETS = frozenset(
    {
        "msmarco",
        "trec-covid",
        "nfcorpus",
        "nq",
        "hotpotqa",
        "fiqa",
        "arguana",
        "webis-touche2020",
        "cqadupstack",
        "quora",
        "dbpedia-entity",
        "scidocs",
        "fever",
        "climate-fever",
        "scifact",
    }
)

_CHUNK = 1 << 20  # bytes copied at a time
_DOWNLOAD_TIMEOUT_S = 60


def default_data_dir() -> Path:
    """Where named datasets live and are downloaded to: ``$AUGPLAN_DATA_DIR`` or ~/.augplan/data."""
    env = os.environ.get("AUGPLAN_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".augplan" / "data"


def _beir_url(name: str) -> str:
    base = os.environ.get("AUGPLAN_BEIR_URL") or BEIR_URL
    return f"{base.rstrip('/')}/{name}.zip"


def locate(
    path_or_name: str, data_dir: str | Path | None = None, *, download: bool = False
) -> Path:
    """Find a corpus by path or dataset name.

    An existing path wins; then ``data_dir/NAME``; then ``$AUGPLAN_DATA_DIR/NAME`` (or
    ``~/.augplan/data/NAME`` when that variable is unset); then, for a public BEIR dataset and
    ``download=True``, the dataset is downloaded into that last folder.
    """
    if not path_or_name.strip():
        raise AugplanError("no dataset given", hint="pass a dataset name or a path")
    given = Path(path_or_name).expanduser()
    if given.exists():
        return given.resolve()
    looked = [given]
    candidates: list[Path] = []
    home = default_data_dir()
    if not given.is_absolute():
        if data_dir is not None:
            candidates.append(Path(data_dir).expanduser() / path_or_name)
        candidates.append(home / path_or_name)
    for cand in candidates:
        if cand.exists():
            return cand.resolve()
        looked.append(cand)
    name = path_or_name.strip("/")
    if name in BEIR_DATASETS and download:
        return download_beir(name, home)
    where = ", ".join(str(p) for p in looked)
    if name in BEIR_DATASETS:
        hint = f"pass --data DIR (a folder holding {name}/), or --download to fetch it from BEIR"
    else:
        hint = (
            "pass --data DIR (a folder holding it), or a path to a BEIR folder, .jsonl or "
            ".parquet file; --download works for public BEIR datasets: "
            + ", ".join(sorted(BEIR_DATASETS))
        )
    raise AugplanError(f"dataset '{path_or_name}' not found; looked in: {where}", hint=hint)


def download_beir(name: str, dest_dir: Path) -> Path:
    """Download the public BEIR zip of ``name`` and unzip it into ``dest_dir/name``."""
    if name not in BEIR_DATASETS:
        raise AugplanError(f"'{name}' is not a public BEIR dataset")
    url = _beir_url(name)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}-", suffix=".zip.part", dir=dest_dir)
    except OSError as exc:
        raise AugplanError(f"cannot write to data folder {dest_dir}: {exc}") from exc
    tmp_zip = Path(tmp_name)
    try:
        _fetch(url, fd, name)
        return _unpack(tmp_zip, name, dest_dir, url)
    finally:
        tmp_zip.unlink(missing_ok=True)


def _fetch(url: str, fd: int, name: str) -> None:
    """Copy ``url`` into the open file ``fd`` (closed afterwards)."""
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as resp,
        ):
            shutil.copyfileobj(resp, out, _CHUNK)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise AugplanError(
            f"could not download {name} from {url}: {reason}",
            hint=(
                "check the network connection, or fetch the zip elsewhere, unzip it into a "
                "folder and pass --data DIR"
            ),
        ) from exc


def _unpack(zip_path: Path, name: str, dest_dir: Path, url: str) -> Path:
    """Unzip into a temporary folder beside ``dest_dir/name``, then rename it into place."""
    target = dest_dir / name
    unpack: Path | None = None
    try:
        unpack = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest_dir))
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(unpack)
        inner = unpack / name
        source = inner if inner.is_dir() else unpack
        if not target.exists():  # else another process finished first
            source.rename(target)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AugplanError(f"download of {name} from {url} could not be unpacked: {exc}") from exc
    finally:
        if unpack is not None:
            shutil.rmtree(unpack, ignore_errors=True)
    return target.resolve()


def import_dataset(
    store: Store,
    path_or_name: str,
    *,
    name: str | None = None,
    data_dir: str | Path | None = None,
    download: bool = False,
    replace: bool = False,
    strict: bool = False,
) -> tuple[str, CorpusSummary, bool]:
    """Locate a dataset (a path, or a name in the data folders), validate it and import it.
    Returns (corpus name, summary, written); re-importing the same files writes nothing.

    Qrels rows naming a query or corpus id the corpus lacks are dropped and counted in
    ``summary.dropped_qrels``; with ``strict`` they make the import fail instead."""
    located = locate(path_or_name, data_dir, download=download)
    files = corpus_io.detect(located)
    corpus = name or (located.name if files.kind == "beir" else located.stem)
    summary, written = store.import_corpus(corpus, files, replace=replace, strict=strict)
    return corpus, summary, written


__all__ = [
    "BEIR_DATASETS",
    "BEIR_URL",
    "default_data_dir",
    "download_beir",
    "import_dataset",
    "locate",
]
