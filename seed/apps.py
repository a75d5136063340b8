from django.apps import AppConfig


class SeedConfig(AppConfig):
    """The synthetic demo collection (`manage.py seed_hpb`): the one app that may know every other app."""

    name = "seed"
    verbose_name = "Demo collection"
