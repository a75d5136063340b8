"""`GET /api/v1/cases/{id}/manifest`: a case's viewer manifest, for clients that sign in.

The same JSON as the bundle's `manifest.json` (imaging.services.bundles), with a short-lived URL
beside each relative path, so a viewer can move from the public bucket to the API without a new
format. Thin: visibility is cases.services.access', the manifest the bundle service's.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.services import access
from hpb import flags
from hpb.api.schema import ErrorSerializer
from hpb.api.views import LIGHTWEIGHT_PARAMETER
from imaging.serializers import ViewerManifestSerializer
from imaging.services import bundles


class CaseManifestView(APIView):
    @extend_schema(
        operation_id="case_manifest",
        tags=["cases"],
        parameters=[LIGHTWEIGHT_PARAMETER],
        responses={
            200: ViewerManifestSerializer,
            404: OpenApiResponse(ErrorSerializer, description="No such case visible, or it has no published bundle."),
        },
        summary="The case's viewer manifest, with signed URLs",
    )
    def get(self, request: Request, case_id: int) -> Response:
        lightweight = flags.lightweight_mode(request)
        if not access.visible_cases(user=request.user, lightweight=lightweight).filter(pk=case_id).exists():
            raise NotFound()
        manifest = bundles.published_manifests(case_ids=[case_id], request=request, lightweight=lightweight)
        if case_id not in manifest:
            raise NotFound(
                "This case has no published viewer bundle: it is not published, or its bundle is still being "
                "built (a few seconds after publishing), or the last build was refused (see the case's bundle in "
                "the admin)."
            )
        return Response(manifest[case_id])
