"""`catalog-keys create|list|revoke`: the API keys the product API accepts, stored hashed in the catalog database.

`create` prints the new key once, alone on stdout (`KEY=$(catalog-keys create ...)` captures it; what was made
goes to stderr); nothing stores or shows it again. `list` shows ids, names, scopes and dates — never a key or a
digest. `revoke` takes effect on the next request, in every API process.
"""

import argparse
import sys
import uuid
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from catalog_api.adapters.api_keys import ApiKeys, StoredKey
from catalog_api.domain.keys import InvalidKeys, Scope, parse_scopes
from catalog_kit.db import make_engine, make_session_factory
from catalog_kit.settings import CatalogSettings

MAX_NAME_LENGTH = 100


def _name(text: str) -> str:
    name = text.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise argparse.ArgumentTypeError(f"a name is 1 to {MAX_NAME_LENGTH} printable characters")
    return name


def _scopes(text: str) -> frozenset[Scope]:
    try:
        return parse_scopes(text)
    except InvalidKeys as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catalog-keys", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key and print it, once")
    create.add_argument("--name", type=_name, required=True, help="who holds the key, e.g. supplier-a")
    create.add_argument(
        "--scopes",
        type=_scopes,
        required=True,
        help=f"scopes joined by + or commas: {', '.join(Scope)} (admin: every scope, on everyone's jobs)",
    )
    listing = commands.add_parser("list", help="the keys (never the keys' secrets)")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    revoke = commands.add_parser("revoke", help="refuse a key from now on")
    revoke.add_argument("id", type=uuid.UUID)
    return parser


def _line(key: StoredKey) -> str:
    revoked = f"  revoked {key.revoked_at:%Y-%m-%d %H:%M:%S%z}" if key.revoked_at else ""
    return f"{key.id}  {key.name:24}  {'+'.join(key.scopes):32}  created {key.created_at:%Y-%m-%d %H:%M:%S%z}{revoked}"


def run(argv: Sequence[str] | None = None, settings: CatalogSettings | None = None) -> int:
    args = _parser().parse_args(argv)
    engine = make_engine((settings or CatalogSettings()).database_url, pool_size=1)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session, session.begin():
            keys = ApiKeys(session)
            if args.command == "create":
                made, key = keys.create(args.name, args.scopes)
                print(f"created key {made.id} for {made.name}: {'+'.join(made.scopes)}", file=sys.stderr)
                print("the key is shown this once; store it now", file=sys.stderr)
                print(key)
            elif args.command == "list":
                for stored in keys.listing(include_revoked=args.all):
                    print(_line(stored))
            else:
                revoked = keys.revoke(args.id)
                if revoked is None:
                    print(f"catalog-keys revoke: no key {args.id}", file=sys.stderr)
                    return 1
                print(f"revoked {revoked.id} ({revoked.name})")
    except SQLAlchemyError as exc:
        # The driver's message, never the URL: it may carry the database password.
        cause = getattr(exc, "orig", None) or exc
        print(f"catalog-keys {args.command} failed: {type(exc).__name__}: {cause}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def main() -> None:
    sys.exit(run())
