"""Serves the local object store's presigned URLs (``/objects/<key>?exp=&sig=``).

Only the ``local`` backend's URLs point at the web app; S3 presigned URLs go to the S3 server.
"""
