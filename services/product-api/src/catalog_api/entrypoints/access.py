"""Who may call what, in one table: every operation of the product API and the scope its caller's key needs.

`create_app` refuses to start when an operation is missing here (or listed but not served), `deps.authorize`
enforces the table on every request, and the OpenAPI document shows it (`complete_openapi`). Which *job* a caller
may see or change is not a scope but ownership: a key sees the jobs it submitted, an admin key every job
(`service_layer.imports`).
"""

from starlette.requests import Request

from catalog_api.domain.keys import SCOPE_MEANINGS, Scope
from catalog_http.access import PUBLIC, AccessTable, Operation

# The operator console: server-rendered pages for admins, kept out of the OpenAPI document (they answer HTML).
# Its login is public (it is how a session starts); everything else needs the admin scope.
CONSOLE: dict[Operation, str] = {
    ("GET", "/console/login"): PUBLIC,
    ("POST", "/console/login"): PUBLIC,
    ("POST", "/console/logout"): Scope.ADMIN,
    ("GET", "/console"): Scope.ADMIN,
    ("GET", "/console/imports"): Scope.ADMIN,
    ("POST", "/console/imports/retry-failed"): Scope.ADMIN,
    ("GET", "/console/imports/{job_id}"): Scope.ADMIN,
    ("GET", "/console/imports/{job_id}/rows/{row_number}"): Scope.ADMIN,
    ("POST", "/console/imports/{job_id}/retry-failed"): Scope.ADMIN,
    ("POST", "/console/imports/{job_id}/cancel"): Scope.ADMIN,
    ("GET", "/console/dead-letters"): Scope.ADMIN,
    ("GET", "/console/dead-letters/{processor}/{partition}/{offset}"): Scope.ADMIN,
    ("POST", "/console/dead-letters/{processor}/replay"): Scope.ADMIN,
    ("POST", "/console/dead-letters/{processor}/discard"): Scope.ADMIN,
    ("GET", "/console/enrichment"): Scope.ADMIN,
    ("GET", "/console/webhooks"): Scope.ADMIN,
    ("POST", "/console/webhooks"): Scope.ADMIN,
    ("GET", "/console/webhooks/{subscription_id}"): Scope.ADMIN,
    ("POST", "/console/webhooks/{subscription_id}/test"): Scope.ADMIN,
    ("POST", "/console/webhooks/{subscription_id}/deactivate"): Scope.ADMIN,
    ("POST", "/console/webhooks/{subscription_id}/activate"): Scope.ADMIN,
    ("POST", "/console/webhooks/deliveries/{delivery_id}/redeliver"): Scope.ADMIN,
}
# The live job stream is for browsers (EventSource) and long-lived: outside the document, like the console.
IMPORT_EVENTS: Operation = ("GET", "/imports/{job_id}/events")
# What the console's pages call besides its own routes: there its session counts as much as a bearer key.
CONSOLE_CALLS = frozenset(
    {IMPORT_EVENTS, ("GET", "/imports/{job_id}/rows.csv"), ("GET", "/imports/{job_id}/rows.jsonl")}
)

ACCESS = AccessTable(
    needs={
        # The catalog is public to read: storefronts and search need no key.
        ("GET", "/products"): PUBLIC,
        ("GET", "/products/{product_id}"): PUBLIC,
        ("GET", "/products/{product_id}/images"): PUBLIC,
        # Pipeline timings are for the platform's integrators and operators, not for storefronts.
        ("GET", "/products/{product_id}/lineage"): Scope.READ,
        ("GET", "/media/{key}"): PUBLIC,
        ("POST", "/products"): Scope.WRITE,
        ("PATCH", "/products/{product_id}"): Scope.WRITE,
        # Products have no owner: any writer may delete one, as any writer may change it.
        ("DELETE", "/products/{product_id}"): Scope.WRITE,
        ("POST", "/products/{product_id}/images"): Scope.WRITE,
        # Import jobs show a supplier's files, SKUs and rows: private, and only the submitter's (or an admin's).
        ("POST", "/imports"): Scope.WRITE,
        ("GET", "/imports"): Scope.READ,
        ("GET", "/imports/{job_id}"): Scope.READ,
        ("GET", "/imports/{job_id}/rows"): Scope.READ,
        ("GET", "/imports/{job_id}/lineage"): Scope.READ,
        ("POST", "/imports/{job_id}/retry-failed"): Scope.WRITE,
        ("POST", "/imports/{job_id}/cancel"): Scope.WRITE,
        # Webhooks send platform events to URLs of the subscriber's choosing, signed with secrets: operators only.
        ("POST", "/admin/webhooks"): Scope.ADMIN,
        ("GET", "/admin/webhooks"): Scope.ADMIN,
        ("GET", "/admin/webhooks/{subscription_id}"): Scope.ADMIN,
        ("PATCH", "/admin/webhooks/{subscription_id}"): Scope.ADMIN,
        ("DELETE", "/admin/webhooks/{subscription_id}"): Scope.ADMIN,
        ("POST", "/admin/webhooks/{subscription_id}/rotate-secret"): Scope.ADMIN,
        ("POST", "/admin/webhooks/{subscription_id}/test"): Scope.ADMIN,
        ("GET", "/admin/webhooks/{subscription_id}/deliveries"): Scope.ADMIN,
        ("POST", "/admin/webhooks/deliveries/{delivery_id}/redeliver"): Scope.ADMIN,
        # Live progress and the ledger as a file: like the job itself (the submitter's, or an admin's).
        IMPORT_EVENTS: Scope.READ,
        ("GET", "/imports/{job_id}/rows.csv"): Scope.READ,
        ("GET", "/imports/{job_id}/rows.jsonl"): Scope.READ,
        # Dead letters of every processor: operators only.
        ("GET", "/admin/dead-letters/{processor}"): Scope.ADMIN,
        ("POST", "/admin/dead-letters/{processor}/replay"): Scope.ADMIN,
        ("POST", "/admin/dead-letters/{processor}/discard"): Scope.ADMIN,
        # Probes and event contracts are for anyone who runs or consumes the platform.
        ("GET", "/healthz"): PUBLIC,
        ("GET", "/readyz"): PUBLIC,
        # Counts and timings by route template and status: no catalog data, no ids, no keys. Public like the probes,
        # so a scraper needs no key; a deployment keeps it off its public ingress (docs/metrics.md).
        ("GET", "/metrics"): PUBLIC,
        ("GET", "/asyncapi.json"): PUBLIC,
        ("GET", "/schemas/{name}"): PUBLIC,
        **CONSOLE,
    },
    scopes=SCOPE_MEANINGS,
    undocumented=frozenset({*CONSOLE, IMPORT_EVENTS}),
)


def accepts_console_session(request: Request) -> bool:
    """Whether the console's session cookie may stand for a key on this request's operation."""
    route = request.scope.get("route")
    operation = (request.method, getattr(route, "path_format", ""))
    return operation in CONSOLE or operation in CONSOLE_CALLS
