"""Signals the cases app sends for other apps to act on, without importing them.

`case_statuses_changed` is sent after cases change status in bulk (`cases.services.publishing`, which
the admin actions use): a queryset UPDATE sends no `post_save`. The imaging app connects to it to
publish or remove viewer bundles (imaging.services.bundles_triggers).
"""

from django.dispatch import Signal

# Sent with `case_ids` (a list of ints: the cases whose status changed) and `status` (the new one).
case_statuses_changed = Signal()
