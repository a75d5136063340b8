"""Kernel endpoints of the API: the root, the viewer's config and the token exchange."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from hpb import flags, storage
from hpb.api.throttling import TokenAddressThrottle, TokenUsernameThrottle

API_VERSION = settings.SPECTACULAR_SETTINGS["VERSION"]

LIGHTWEIGHT_PARAMETER = OpenApiParameter(
    flags.LIGHTWEIGHT_PARAM,
    bool,
    OpenApiParameter.QUERY,
    description=(
        "Lightweight mode for this request: only cases marked lightweight, and no volume URLs. "
        "Ignored when the server forces lightweight mode on. Anything but true/false/1/0 is a 400."
    ),
)


class APIRootView(APIView):
    """Links to the resources of API v1."""

    @extend_schema(
        responses=inline_serializer(
            "APIRoot",
            {
                "api_version": serializers.CharField(),
                "cases": serializers.URLField(),
                "search": serializers.URLField(),
                "config": serializers.URLField(),
                "token": serializers.URLField(),
                "schema": serializers.URLField(),
                "docs": serializers.URLField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        links = {name: reverse(f"api:{route}", request=request) for name, route in _ROOT_LINKS.items()}
        return Response({"api_version": API_VERSION, **links})


_ROOT_LINKS = {
    "cases": "case-list",
    "search": "search",
    "config": "config",
    "token": "token",
    "schema": "schema",
    "docs": "docs",
}


class ConfigSerializer(serializers.Serializer):
    lightweight_mode = serializers.BooleanField(
        help_text="Whether this request is served in lightweight mode (server flag or ?lightweight=true)."
    )
    lightweight_forced = serializers.BooleanField(
        help_text="Whether the server forces lightweight mode on (then ?lightweight=false has no effect)."
    )
    presign_expiry_seconds = serializers.IntegerField(help_text="Lifetime of the signed file URLs the API hands out.")
    api_version = serializers.CharField(help_text="Version of this API's contract.")


class ConfigView(APIView):
    """What the viewer needs to know before it asks for cases."""

    @extend_schema(parameters=[LIGHTWEIGHT_PARAMETER], responses=ConfigSerializer)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "lightweight_mode": flags.lightweight_mode(request),
                "lightweight_forced": flags.lightweight_forced(),
                "presign_expiry_seconds": storage.expiry_seconds(),
                "api_version": API_VERSION,
            }
        )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")


class TokenView(APIView):
    """Exchange a username and password for the user's API token (created on first use).

    For scripts and other non-browser clients; the browser viewer uses the session cookie.
    Deliberately unauthenticated: a stale session cookie must not turn this into a CSRF failure.
    Being open, it is throttled per client address and per submitted username (hpb.api.throttling):
    past the rate, attempts get a 429 with Retry-After until the window has room again.
    """

    authentication_classes: list = []
    permission_classes = [AllowAny]
    # Address first: it needs no body, and it counts even a request whose body does not parse.
    throttle_classes = [TokenAddressThrottle, TokenUsernameThrottle]
    serializer_class = AuthTokenSerializer

    @extend_schema(request=AuthTokenSerializer, responses=TokenResponseSerializer)
    def post(self, request: Request) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
