"""Backends shared by the cloud apps (vector store, object store), each behind a Protocol."""
