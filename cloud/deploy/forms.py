"""The staff upload form: a model file, its manifest and the operator's signature of them.

The signature is made on the operator's machine (`python -m cloud models sign`): the private key
never travels to the web app, which checks the signature against registered public keys.
"""

from __future__ import annotations

import base64
import binascii

from django import forms

from sightline.model_signature import ED25519_SIGNATURE_BYTES


class UploadForm(forms.Form):
    """ONNX file, manifest TOML, signature (base64) and the signing key's id."""

    onnx = forms.FileField(label="ONNX file")
    manifest = forms.FileField(label="Manifest (TOML)")
    signature = forms.CharField(
        label="Signature (base64)",
        help_text="From `python -m cloud models sign --onnx F --manifest F --key KEY_FILE`.",
    )
    key_id = forms.CharField(label="Key id", max_length=16)

    def clean_signature(self) -> bytes:
        text = self.cleaned_data["signature"].strip()
        try:
            signature = base64.b64decode(text, validate=True)
        except binascii.Error as err:
            raise forms.ValidationError("not valid base64") from err
        if len(signature) != ED25519_SIGNATURE_BYTES:
            raise forms.ValidationError(
                f"an ed25519 signature has {ED25519_SIGNATURE_BYTES} bytes, not {len(signature)}"
            )
        return signature
