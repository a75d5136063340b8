"""The versioned REST API's shared plumbing: URLs, pagination, errors, permissions and schema helpers.

Apps add their own routes by shipping an `api_urls.py` module with a `urlpatterns` list; see
`hpb.api.urls`.
"""
