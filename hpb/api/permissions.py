"""Object permissions shared by the API's views."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


def is_staff(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


class IsAuthorOrStaff(BasePermission):
    """Anyone who may see the object may read it; only its author or staff may change or delete it.

    Objects are expected to have an `author_id`. Whether the user may *see* the object at all is the
    view's queryset's business (hidden objects are 404, not 403).
    """

    message = "Only the author of this note or a curator (staff) may change or delete it."

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return is_staff(request.user) or obj.author_id == request.user.pk
