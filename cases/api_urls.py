"""Case routes of API v1 (included by hpb.api.urls)."""

from django.urls import path

from cases import views

urlpatterns = [
    path("cases", views.CaseListView.as_view(), name="case-list"),
    path("cases/<id:case_id>", views.CaseDetailView.as_view(), name="case-detail"),
    path("search", views.SearchView.as_view(), name="search"),
]
