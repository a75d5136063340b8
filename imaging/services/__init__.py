"""The imaging app's services: every way into ingestion, the job's lifecycle, storage I/O and locks."""
