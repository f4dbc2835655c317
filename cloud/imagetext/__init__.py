"""The image-text (CLIP-style) plug-in: an operator's ONNX image encoder, text encoder and
tokenizer, which embed every crop into a collection of their own and answer text queries by
vector search over it.

Public surface: `config.ImageTextSettings` (what the operator configures and pins),
`model.ImageTextModel` / `model.image_text_model` (both encoders), `analyser.ImageTextAnalyser`
(the embed worker's ``image_text`` crop analyser) and `cloud.search.image_text` (the query).
No such model ships with Sightline (none is offline-obtainable); the tests run the whole path on
a small randomly initialised model of the same interface.
"""
