"""WSGI entry point that also serves the static files: ``gunicorn cloud.static_wsgi``.

The cloud image (docker/cloud) runs it: with no web server in front, WhiteNoise serves
`STATIC_ROOT` (filled by ``collectstatic`` when the image is built) from the WSGI process, with
compression and cache headers, and hands every other request to Django.
"""

from django.conf import settings
from whitenoise import WhiteNoise

from cloud.wsgi import application as django_application

application = WhiteNoise(
    django_application, root=settings.STATIC_ROOT, prefix=settings.STATIC_URL, max_age=3600
)
