"""The case page's viewer bundle in the admin: where it is published, what was withheld and why.

Read-only (bundles follow the case; `manage.py publish_viewer_bundles` rebuilds them), contributed to
the case admin through `hpb.admin_utils.contribute_inline` like the studies and structures.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from cases.models import Case
from hpb import storage
from hpb.admin_utils import EMPTY, contribute_inline, signed_link
from imaging.models import ViewerBundle
from imaging.services import bundles


@contribute_inline("cases.Case")
class ViewerBundleInline(admin.StackedInline):
    model = ViewerBundle
    verbose_name = "viewer bundle"
    verbose_name_plural = "viewer bundle (what the learnHPB viewer shows of this case)"
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("status", "folder", "published_at", "manifest_link", "withheld_list", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Case | None = None) -> bool:
        return False

    @admin.display(description="Status")
    def status(self, bundle: ViewerBundle) -> str:
        if bundle.error:
            return "Refused: nothing is published (see the error below)."
        if bundle.published_at is None:
            return "Not published (the case is a draft or archived)."
        files = len(bundle.manifest.get("files") or [])
        return f"Published: {files} files, the manifest last."

    @admin.display(description="Manifest")
    def manifest_link(self, bundle: ViewerBundle) -> str:
        if bundle.published_at is None:
            return EMPTY
        reference = storage.reference_for("viewer", bundles.folder_prefix(bundle.folder) + bundles.MANIFEST)
        return signed_link(reference, label="manifest.json")

    @admin.display(description="Withheld")
    def withheld_list(self, bundle: ViewerBundle) -> str:
        if not bundle.withheld:
            return EMPTY
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}: {}</li>", ((w.get("item"), w.get("reason")) for w in bundle.withheld)),
        )


@admin.register(ViewerBundle)
class ViewerBundleAdmin(admin.ModelAdmin):
    """Every case's bundle at a glance: which are published, refused or withheld something. Read-only."""

    list_display = ("folder", "case", "published_at", "withheld_count", "refused")
    list_select_related = ("case",)
    list_filter = (("published_at", admin.EmptyFieldListFilter),)
    search_fields = ("folder", "case__title")
    readonly_fields = ("case", "folder", "published_at", "content_hash", "withheld", "error", "manifest", "updated_at")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ViewerBundle | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ViewerBundle | None = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: ViewerBundle | None = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    @admin.display(description="Withheld")
    def withheld_count(self, bundle: ViewerBundle) -> int:
        return len(bundle.withheld or [])

    @admin.display(description="Refused", boolean=True)
    def refused(self, bundle: ViewerBundle) -> bool:
        return bool(bundle.error)
