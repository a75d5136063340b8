from django.apps import AppConfig


class HpbConfig(AppConfig):
    """The shared kernel: storage and URL signing, flags, permissions, pagination, health, seeding."""

    name = "hpb"
    verbose_name = "HPB platform"
