"""The API tokens page: a user's own tokens, made and revoked by them; a new one is shown once.

Every role may hold tokens: a token acts as its user, with the same role and scope.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from cloud.access import tokens
from cloud.access.forms import TokenForm
from cloud.access.models import ApiToken
from cloud.access.roles import user_pk
from cloud.errors import InvalidInput, NotFound


@require_http_methods(["GET", "HEAD", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List the user's tokens; POST makes one and shows it on this response only."""
    form = TokenForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            row, issued = tokens.create_token(user_pk(request.user), form.cleaned_data["name"])
        except InvalidInput as err:
            form.add_error("name", str(err))
        else:
            messages.success(request, f"Made token {row.name!r}.")
            form = TokenForm()
    return render(
        request,
        "access/tokens.html",
        {
            "form": form,
            "issued": issued,
            "tokens": ApiToken.objects.filter(user_id=user_pk(request.user)),
            "api_url": request.build_absolute_uri("/api/v1/"),
        },
        status=400 if form.errors else 200,
    )


@require_POST
def revoke_api_token(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's own tokens."""
    try:
        row = tokens.revoke_token(token_id, user_id=user_pk(request.user))
    except NotFound as err:
        raise Http404(str(err)) from err
    messages.success(request, f"Revoked token {row.name!r}.")
    return redirect("access:tokens")
