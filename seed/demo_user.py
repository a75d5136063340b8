"""The demo curator account: staff, in the "Curators" group, never with a fixed password."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

if TYPE_CHECKING:  # what get_user_model() returns: the project keeps Django's own user model
    from django.contrib.auth.models import User

CURATORS_GROUP = "Curators"
# Every model of these apps is curation material: cases, documents, patients, imaging, ingest jobs, notes.
CURATION_APPS = ("cases", "imaging", "annotations")
CURATION_ACTIONS = ("add", "change", "delete", "view")


@dataclass(frozen=True)
class DemoAccount:
    user: User
    created: bool
    generated_password: str | None  # set only when a password was generated now (print it once)
    password_changed: bool
    password_warnings: tuple[str, ...] = ()


def curators_group() -> Group:
    """The group with add/change/delete/view on every curation model (created or brought up to date)."""
    group, _ = Group.objects.get_or_create(name=CURATORS_GROUP)
    permissions = Permission.objects.filter(
        content_type__app_label__in=CURATION_APPS,
        codename__regex=r"^(" + "|".join(CURATION_ACTIONS) + r")_",
    )
    group.permissions.add(*permissions)
    return group


@transaction.atomic
def ensure_demo_curator(*, username: str, password: str = "") -> DemoAccount:
    """Create or update the demo curator.

    A new account gets `password` (from HPB_DEMO_PASSWORD) or a freshly generated one, returned so
    the caller prints it once. An existing account keeps its password unless `password` is given and
    differs, so re-seeding never locks a curator out or rotates a password someone wrote down.
    """
    user_model = get_user_model()
    existing = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
    created = existing is None
    user = existing if existing is not None else user_model(**{user_model.USERNAME_FIELD: username})
    user.is_staff = True
    user.is_active = True
    if hasattr(user, "email") and not user.email:
        user.email = f"{username}@example.org"

    generated = None
    changed = False
    warnings: tuple[str, ...] = ()
    if password:
        if created or not user.check_password(password):
            warnings = _weaknesses(password, user)
            user.set_password(password)
            changed = True
    elif created:
        generated = secrets.token_urlsafe(18)
        user.set_password(generated)
        changed = True
    user.save()
    user.groups.add(curators_group())
    return DemoAccount(
        user=user, created=created, generated_password=generated, password_changed=changed, password_warnings=warnings
    )


def _weaknesses(password: str, user: User) -> tuple[str, ...]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return tuple(exc.messages)
    return ()
