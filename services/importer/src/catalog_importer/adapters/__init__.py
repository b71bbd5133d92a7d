"""SQL of import jobs as the importer runs them: claims, heartbeats, progress, the row ledger."""
