"""Media I/O: image fetching, the Pillow pipeline, the media fields in the catalog database, migrations."""
