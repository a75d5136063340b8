"""`manage.py serve_viewer_bucket`: the local viewer storage as an anonymous S3 bucket for the viewer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hpb import storage
from imaging.services import bundles, bundles_bucket


class Command(BaseCommand):
    help = (
        "Serve the local viewer storage (var/storage/viewer) read-only as an S3 bucket that the unmodified "
        "learnHPB viewer can list and read anonymously (ListObjectsV2, GET, CORS). Local development only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1, loopback only).")
        parser.add_argument("--port", type=int, default=9000, help="Port (default 9000).")
        parser.add_argument("--bucket", default="hpb", help="Bucket name the viewer's URL names (default hpb).")
        parser.add_argument("--verbose-requests", action="store_true", help="Log every request.")

    def handle(self, *args: Any, **options: Any) -> None:
        if storage.is_s3("viewer"):
            raise CommandError(
                f"The viewer storage is the S3 bucket {storage.bucket_name('viewer')}: point the viewer at that bucket "
                "instead (docs/viewer.md). This command serves the local folder only."
            )
        root = Path(storage.get_storage("viewer").path("."))
        root.mkdir(parents=True, exist_ok=True)
        bucket = bundles_bucket.FolderBucket(root, options["bucket"])
        server = bundles_bucket.BucketServer(
            (options["host"], options["port"]), bucket, verbose=options["verbose_requests"]
        )
        port = server.server_address[1]
        url = bundles_bucket.base_url(
            bucket=options["bucket"], host="localhost", port=port, prefix=bundles.base_prefix()
        )
        folders = len(bundles.bundles_storage.list_folders(bundles.base_prefix()))
        self.stdout.write(
            self.style.SUCCESS(f"Serving {root} as the bucket {options['bucket']!r} ({folders} case folders).")
        )
        self.stdout.write(f"Start the viewer with:  VITE_CASE_ASSET_BASE_URL={url} npm run dev")
        if settings.VIEWER_PUBLIC_BASE_URL:
            self.stdout.write(f"(VIEWER_PUBLIC_BASE_URL is {settings.VIEWER_PUBLIC_BASE_URL})")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
