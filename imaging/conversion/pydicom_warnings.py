"""pydicom's complaints about the files it reads: logged, not raised as Python warnings.

The library reads files from outside on purpose: every file of an upload is parsed to classify it,
and a damaged or non-conformant header is expected input that ends as a counted file, a refusal
(``IngestError``) or, for a harmless oddity, nothing at all. pydicom reports each oddity twice, through
``pydicom.misc.warn_and_log``: a record on the ``pydicom`` logger and a ``UserWarning``. Inside
``logged_only()`` the log record stays (it reaches the worker's log, next to the job's own records);
the warning, which would repeat it on stderr out of context and fail a test run that treats warnings
as errors, is dropped.

Only UserWarnings raised from pydicom's own modules are dropped (every one of those goes through
``warn_and_log``, so each is logged): pydicom's DeprecationWarnings and everybody else's warnings,
highdicom's included, pass. ``warnings.catch_warnings`` changes the process-wide filters, so while a
block runs the filter holds for every thread: for the library's own decoding threads, as intended,
and for pydicom calls elsewhere in the process, whose complaints stay in the log as well.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def logged_only() -> Iterator[None]:
    """Within the block, pydicom's UserWarnings are not raised; pydicom has logged them already."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
        yield
