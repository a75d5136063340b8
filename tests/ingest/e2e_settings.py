"""Settings of the worker and listener processes the end-to-end tests start.

Everything comes from the environment like in production (`config.settings.base`); only the Redis
transport's redelivery sweep is made frequent, so a task whose worker was killed comes back within
seconds of its (short, test-chosen) visibility timeout instead of the default ~100 s sweep period.
"""

from config.settings.base import *  # noqa: F403
from config.settings.base import CELERY_BROKER_TRANSPORT_OPTIONS, LOGGING

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    "unacked_mutex_expire": 10,  # a worker killed while sweeping must not block the next one for 5 minutes
}
_root_logger = LOGGING["root"]
assert isinstance(_root_logger, dict)
_root_logger["level"] = "INFO"
