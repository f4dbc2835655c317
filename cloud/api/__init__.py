"""The JSON API under ``/api/v1/``, on django-ninja, with its OpenAPI schema at
``/api/v1/openapi.json`` and a browsable page at ``/api/v1/docs``.

Adding endpoints: write a module here (or in the feature's app) holding a ``router =
Router(tags=[...])`` with its pydantic schemas and operations, and add it to `ROUTERS` in
`cloud.api.app`. An operation takes its query parameters as one schema argument named
``query`` (``query: Query[MyQuery]``) and its JSON body as one named ``body``, so that errors
name the fields as the client wrote them. Every operation then gets, without writing anything:

- authentication: a session cookie (with CSRF on unsafe methods) or an API token
  (``Authorization: Bearer slt_...``, `cloud.access.tokens`); 401 without either;
- per-user rate limiting (``SIGHTLINE_CLOUD_API_RATE``): 429;
- JSON errors: 400 with per-field messages for bad input (and `cloud.errors.InvalidInput`),
  403 for `PermissionDenied`, 404 for `Http404` and `cloud.errors.NotFound`, 503 when the object
  or vector store or a model is unavailable (`cloud.api.errors`).

Operations check roles with `cloud.access.roles.check_role(request.user, Role.X)` (every logged
in user is at least a viewer, so reading needs no check) and must narrow what they return to
`cloud.access.scope.visible_camera_ids(request.user)`, as the pages do.
"""
