# One image for the web app (gunicorn), the Celery worker and the ingest listener.
# The steps are the Makefile's tested targets: `make install-production` and `make collectstatic`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.production

# make for the targets; the GL/EGL and X libraries the vtk wheel links against; libcurl for pycurl
# (kombu's SQS transport); libgomp for numpy/vtk threading. The pylibjpeg codecs come as wheels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make libgl1 libegl1 libglx-mesa0 libxrender1 libxext6 \
        libx11-6 libgomp1 libcurl4 ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 hpb && useradd --system --uid 10001 --gid hpb --home-dir /app --shell /usr/sbin/nologin hpb
WORKDIR /app

COPY Makefile ./
COPY requirements/ requirements/
RUN make install-production VENV=$VENV PYTHON=python3.11

COPY . .
RUN make collectstatic VENV=$VENV && chown -R hpb:hpb /app

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

# web (default); the worker and the listener override the command:
#   celery -A config worker -l info --concurrency 2
#   python manage.py ingest_listen
CMD ["gunicorn", "config.wsgi:application", "--config", "gunicorn.conf.py"]
