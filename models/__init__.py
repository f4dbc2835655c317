"""Model manifests, the cache of built models, and the reproducible recipe that builds them.

Runtime code (the edge agent, the cloud workers) imports only the light modules, which need
neither the recipe nor ONNX: `models.manifest` (the `RuntimeManifest` view of a manifest),
`models.cache` (`resolve(name)` / `built_model(manifest)`: a built, verified file; never builds)
and `models.errors` (`ModelError`). The recipe is `models.build` with `models.fetch`, run by
`python -m models build|path|verify`. This file imports nothing, so that importing a light module
never loads the recipe.
"""
