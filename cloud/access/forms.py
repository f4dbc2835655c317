"""The API token form."""

from __future__ import annotations

from django import forms

from cloud.access.tokens import MAX_NAME


class TokenForm(forms.Form):
    """A new token's name: what will use it, so that it can be told apart and revoked."""

    name = forms.CharField(
        max_length=MAX_NAME, help_text="What will use it, e.g. 'nightly report'."
    )
