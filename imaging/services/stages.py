"""The stage names a job shows while it moves, and how much of the bar each one covers.

The conversion library reports its own stages in between `download` and `store`; their names are
shown as they come.
"""

STAGE_AWAITING_UPLOAD = "awaiting_upload"  # created, its files are still being uploaded
STAGE_RETRYING = "retrying"  # a transient error; a retry is scheduled
STAGE_DOWNLOAD = "download"  # copying the upload from the uploads storage to the worker
STAGE_STORE = "store"  # uploading the volume, preview and meshes to the assets storage
STAGE_RECORD = "record"  # writing the study and structure rows
STAGE_DONE = "done"

# Share of the progress bar: download [0, 0.1), conversion [0.1, 0.85), store [0.85, 0.97), record.
DOWNLOAD_END = 0.10
CONVERT_END = 0.85
STORE_END = 0.97
