"""Who may call what on the search API: every operation is public (it serves only what the catalog shows anyone).

The table is still kept, like the product API's, so that a new operation cannot ship without a decision:
`create_app` refuses to start when an operation is missing here, or when one needs a key (this API has none).
"""

from catalog_http.access import PUBLIC, AccessTable

ACCESS = AccessTable(
    needs={
        ("GET", "/search"): PUBLIC,
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/readyz"): PUBLIC,
        ("GET", "/metrics"): PUBLIC,  # aggregate counts and timings only, like the product API's
    }
)
