"""The DeepStream pipeline backend (DeepStream 7.1 + pyds 1.2, JetPack 6 on Jetson Orin).

DeepStream owns decode, batching, inference and tracking for every camera in one GStreamer
pipeline; the agent keeps what comes after (the `TrackLedger`: best crops, summaries, journal,
delivery). The boundary is one pad probe: it turns NvDs metadata into the agent's own types
(`meta.py`) and nothing past it sees pyds.

Modules: `settings` (the config section; importable anywhere), `nvinfer` and `nvtracker` (the
config files the elements read, generated from the model manifest and the tracker settings),
`description` (which elements, with which properties, linked how), `meta` (NvDs metadata in and
out, given the pyds module), `updates` (nvtracker objects to `TrackUpdate`s) and `pipeline`
(the only module that imports `gi` and `pyds`, inside its functions).
"""
