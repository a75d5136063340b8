"""Token authentication with DRF's semantics, whose lookup is one statement written once per process.

Every token-authenticated request looks its token up. DRF does it with
`Token.objects.select_related("user").get(key=key)`: building and compiling that query and populating the
related instance cost about 0.35 ms of Python per request, more than DRF's whole request handling
around it (benchmarks/api.py's floor). Here the same SELECT (token joined to its user) is written once
from the models' metadata and the instances are built with `Model.from_db`, as the ORM would.

The answers are DRF's: the same errors ("Invalid token.", "User inactive or deleted."), the user and
the Token instance as `request.user` / `request.auth`. Keys that cannot be a token (longer than the
key column, or with a NUL byte, which PostgreSQL cannot compare) are refused without a query. The fast
path is taken only on PostgreSQL (the kernel seam `hpb.database.capabilities` says) and when no field of
the token or user model needs a database value converter (a raw row equals the ORM's then); anything
else uses DRF's own lookup. What it earns is measured, not assumed: docs/read-path.md.
"""

from __future__ import annotations

import functools
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.models import Field, Model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from hpb.database import capabilities


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, exactly as DRF's TokenAuthentication, looked up faster."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        model = self.get_model()
        using = router.db_for_read(model)
        statement = _statement(using) if model is Token else None
        if statement is None:
            return super().authenticate_credentials(key)
        if len(key) > _max_key_length() or "\x00" in key:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = _load(using, statement, key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token


@functools.cache
def _max_key_length() -> int:
    max_length = Token._meta.get_field("key").max_length
    if max_length is None:
        raise ImproperlyConfigured("The token key is expected to have a max_length.")
    return max_length


def _column(field: Field[Any, Any] | None) -> str:
    if field is None or field.column is None:
        raise ImproperlyConfigured("The token lookup needs concrete columns.")
    return field.column


@functools.lru_cache(maxsize=8)
def _statement(using: str) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
    """(SQL, token attnames, user attnames), or None where the raw row would differ from the ORM's."""
    if not capabilities(using).is_postgresql:
        return None
    connection = connections[using]
    user_field = Token._meta.get_field("user")
    key_field = Token._meta.get_field("key")
    user_model = user_field.related_model
    token_fields = Token._meta.concrete_fields
    user_fields = user_model._meta.concrete_fields
    for model, fields in ((Token, token_fields), (user_model, user_fields)):
        for field in fields:
            column = field.get_col(model._meta.db_table)
            if field.get_db_converters(connection) or connection.ops.get_db_converters(column):
                return None
    qn = connection.ops.quote_name
    columns = ", ".join(
        [*(f"t.{qn(_column(field))}" for field in token_fields), *(f"u.{qn(_column(field))}" for field in user_fields)]
    )
    sql = (
        f"SELECT {columns} FROM {qn(Token._meta.db_table)} t "  # noqa: S608 - identifiers only
        f"JOIN {qn(user_model._meta.db_table)} u ON u.{qn(_column(user_model._meta.pk))} = t.{qn(_column(user_field))} "
        f"WHERE t.{qn(_column(key_field))} = %s"
    )
    return sql, tuple(field.attname for field in token_fields), tuple(field.attname for field in user_fields)


def _load(using: str, statement: tuple[str, tuple[str, ...], tuple[str, ...]], key: str) -> Token | None:
    sql, token_names, user_names = statement
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
    if row is None:
        return None
    token = Token.from_db(using, token_names, row[: len(token_names)])
    user_model: type[Model] = Token._meta.get_field("user").related_model
    user = user_model.from_db(using, user_names, row[len(token_names) :])
    Token._meta.get_field("user").set_cached_value(token, user)
    return token
