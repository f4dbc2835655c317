"""Detection datasets built from user labels, for retraining a detector (docs/architecture.md,
"Dataset export").

`selection` turns the chosen labels' marks (and, when asked, confident classifier scores) into
images and boxes: each crop's context frame with the box of every labelled crop of that frame,
split into train and val by track (`split`). `archive` streams them into a zip in one of the
`formats` (COCO, YOLO). The web page queues a `DatasetExport` for the Celery task in `tasks`,
which stores the zip under ``datasets/`` in the object store; ``python -m cloud export_dataset``
writes one to a file.
"""
