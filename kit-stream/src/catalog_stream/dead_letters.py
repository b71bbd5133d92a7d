"""Dead letters for operators: `catalog-dlq list <processor>` and `catalog-dlq replay <processor> --offset N`.

Reading and replaying live in `catalog_kit.dead_letters` (the product API's console uses them too). Replaying sends
the record as it was first received (key, value, original headers) back to its original topic;
processors are idempotent, so replaying twice is harmless.
"""

import argparse
import json
import sys
from collections.abc import Sequence

from catalog_kit.dead_letters import DeadLetter, Replay, contract_problem, read, replay
from catalog_kit.settings import CatalogSettings
from catalog_schemas.topics import PROCESSORS

__all__ = ["DeadLetter", "Replay", "contract_problem", "main", "read", "replay"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="catalog-dlq", description=__doc__)
    parser.add_argument("command", choices=["list", "replay"])
    parser.add_argument("processor", choices=PROCESSORS)
    parser.add_argument("--offset", type=int, action="append", help="replay only these offsets (repeatable)")
    parser.add_argument("--all", action="store_true", help="replay every dead letter")
    parser.add_argument("--force", action="store_true", help="also replay records that still break their contract")
    args = parser.parse_args(argv)
    settings = CatalogSettings()
    if args.command == "list":
        for letter in read(settings, args.processor):
            print(
                json.dumps(
                    {"offset": letter.offset, "key": (letter.key or b"").decode(errors="replace"), **letter.reason}
                )
            )
        return
    if not args.all and not args.offset:
        sys.exit("replay needs --offset N (repeatable) or --all")
    result = replay(settings, args.processor, None if args.all else args.offset, force=args.force)
    print(f"replayed {len(result.sent)} record(s)")
    if result.refused:
        print(f"kept back {len(result.refused)} record(s) that still break their contract (--force sends them):")
        for offset, problem in sorted(result.refused.items()):
            print(f"  offset {offset}: {problem}")
        sys.exit(3)
