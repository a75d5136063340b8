"""What the viewer does with a bucket, in Python (the Node test does it with vtk.js): list the case
folders with ListObjectsV2 and a delimiter, anonymously and following continuation tokens, list each
folder, read its manifest. notes/viewer-facts.md describes the viewer's requests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import requests

NS = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}


@dataclass
class ViewedCase:
    folder: str
    objects: list[str]  # keys relative to the folder
    manifest: dict[str, Any]


@dataclass
class AnonymousBucket:
    """An S3 endpoint reached on `address` (http://127.0.0.1:PORT) under a virtual host `host`."""

    address: str
    host: str  # e.g. hpb.s3.localhost:PORT

    def get(self, path: str, params: dict[str, str] | None = None) -> requests.Response:
        return requests.get(self.address + path, params=params, headers={"Host": self.host}, timeout=30)

    def list_objects(
        self, prefix: str, delimiter: str | None = None, max_keys: int | None = None
    ) -> tuple[list[str], list[str]]:
        """(common prefixes, keys) under `prefix`, every page."""
        prefixes: list[str] = []
        keys: list[str] = []
        token = None
        while True:
            params = {"list-type": "2", "prefix": prefix}
            if delimiter is not None:
                params["delimiter"] = delimiter
            if max_keys is not None:
                params["max-keys"] = str(max_keys)
            if token:
                params["continuation-token"] = token
            response = self.get("/", params)
            assert response.status_code == 200, response.text
            root = ET.fromstring(response.content)  # noqa: S314 - the test's own servers
            prefixes += [e.text or "" for e in root.findall("s3:CommonPrefixes/s3:Prefix", NS)]
            keys += [e.text or "" for e in root.findall("s3:Contents/s3:Key", NS)]
            truncated = (root.findtext("s3:IsTruncated", default="false", namespaces=NS) or "").lower() == "true"
            token = root.findtext("s3:NextContinuationToken", namespaces=NS)
            if not truncated or not token:
                return prefixes, keys

    def cases(self, base: str, *, max_keys: int | None = None) -> list[ViewedCase]:
        folders, _ = self.list_objects(f"{base}/", "/", max_keys)
        viewed = []
        for prefix in sorted(folders):
            folder = prefix[len(base) + 1 :].rstrip("/")
            _, keys = self.list_objects(prefix, max_keys=max_keys)
            response = self.get(f"/{prefix}manifest.json")
            assert response.status_code == 200, (prefix, response.status_code)
            viewed.append(
                ViewedCase(
                    folder=folder, objects=[k[len(prefix) :] for k in keys], manifest=json.loads(response.content)
                )
            )
        return viewed
