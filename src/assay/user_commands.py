"""``assay users`` and ``assay keys``: manage who may use a server started with ``--auth``.

They work on the database directly (``--backend-store-uri``, as ``assay server`` takes it),
so the first admin can be made before any server runs. A new API key is printed once, alone
on standard output (``KEY=$(assay keys create ...)`` captures it); what it is and how to use
it go to standard error. Passwords are read with ``getpass`` when standard input is a
terminal, or from standard input with ``--password-stdin``; they are never echoed or logged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from typing import TYPE_CHECKING

from assay.errors import InvalidParameterError
from assay.store import DEFAULT_TRACKING_URI

if TYPE_CHECKING:
    from assay.store.sql import SqlStore

__all__ = ["add_user_commands"]

_ROLES = ["admin", "member", "reviewer", "viewer"]


def _open(args: argparse.Namespace) -> SqlStore:
    # Imported here: the SDK's import of assay never loads the SQL store.
    from assay.store.sql import SqlStore

    return SqlStore(args.backend_store_uri)


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidParameterError("Invalid password: standard input held none")
        return password
    if getattr(args, "no_password", False) or not sys.stdin.isatty():
        return None
    password = getpass.getpass("Password (for the web pages): ")
    if getpass.getpass("Password again: ") != password:
        raise InvalidParameterError("The two passwords differ; nothing was changed")
    return password


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())


def _users_create(args: argparse.Namespace) -> int:
    password = _read_password(args)
    store = _open(args)
    try:
        user = store.create_user(args.name, args.role, password=password)
        users = store.list_users()
    finally:
        store.close()
    how = "signs in with a password and" if user.has_password else "has no password;"
    print(f"Created {user.role.value} {user.username!r}: {how} uses API keys "
          f"(assay keys create NAME --user {user.username}).")
    if len(users) == 1 and user.role.value != "admin":
        print("Note: no user is an admin yet, so nobody can manage users over HTTP.",
              file=sys.stderr)
    return 0


def _users_list(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        users = store.list_users()
    finally:
        store.close()
    if not users:
        print("No users yet. Create the first admin with: assay users create NAME --role admin")
        return 0
    _table([["USERNAME", "ROLE", "PASSWORD", "STATUS", "CREATED"]] + [
        [u.username, u.role.value, "yes" if u.has_password else "no",
         "disabled" if u.disabled else "active", _when(u.created_time_ms)] for u in users])
    return 0


def _users_set_role(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        user = store.set_user_role(args.name, args.role)
    finally:
        store.close()
    print(f"{user.username!r} is now a {user.role.value}.")
    return 0


def _users_disable(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        user = store.disable_user(args.name) if args.disable else store.enable_user(args.name)
    finally:
        store.close()
    state = "disabled (signed out, keys refused)" if user.disabled else "enabled"
    print(f"{user.username!r} is {state}.")
    return 0


def _users_set_password(args: argparse.Namespace) -> int:
    password = _read_password(args)
    if password is None and not args.no_password:
        raise InvalidParameterError(
            "No password given: type it at a terminal, pass it on standard input with "
            "--password-stdin, or remove it with --no-password")
    store = _open(args)
    try:
        store.set_password(args.name, password)
    finally:
        store.close()
    done = "removed" if password is None else "changed"
    print(f"Password of {args.name!r} {done}; their sign-ins were ended.")
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    expires = None
    if args.expires_in_days is not None:
        if not args.expires_in_days > 0:
            raise InvalidParameterError(
                f"Invalid --expires-in-days {args.expires_in_days}: expected more than 0")
        expires = dt.timedelta(days=args.expires_in_days)
    store = _open(args)
    try:
        key_id, token = store.create_api_key(args.user, args.name, expires_in=expires)
    finally:
        store.close()
    until = "never expires" if expires is None else \
        f"expires {_when(int((dt.datetime.now(dt.UTC) + expires).timestamp() * 1000))}"
    print(f"Created API key {args.name!r} (id {key_id}) for {args.user!r}; it {until}.\n"
          "This is the only time it is shown: keep it now. Use it with\n"
          "    export ASSAY_API_KEY=<the key>\n"
          "or send it as 'Authorization: Bearer <the key>'.", file=sys.stderr)
    print(token)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        keys = store.list_api_keys(args.user)
    finally:
        store.close()
    if not keys:
        print("No API keys.")
        return 0
    now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
    _table([["KEY ID", "USER", "NAME", "STATUS", "CREATED", "LAST USED", "EXPIRES"]] + [
        [k.key_id, k.username, k.name,
         "revoked" if k.revoked else "active" if k.is_active(now_ms) else "expired",
         _when(k.created_time_ms), _when(k.last_used_time_ms), _when(k.expires_time_ms)]
        for k in keys])
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        store.revoke_api_key(args.key_id)
    finally:
        store.close()
    print(f"Revoked API key {args.key_id}. Servers refuse it within seconds.")
    return 0


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend-store-uri", default=DEFAULT_TRACKING_URI,
                        help="the server's database: sqlite:///path.db or "
                             "postgresql://user:password@host:port/db (default: %(default)s)")


def _password_options(parser: argparse.ArgumentParser, no_password_help: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of standard input")
    group.add_argument("--no-password", action="store_true", help=no_password_help)


def add_user_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``users`` and ``keys`` to the ``assay`` command's subcommands."""
    users = sub.add_parser("users", help="manage the users of a server started with --auth",
                           description="Manage the users of a server started with --auth.")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    create = users_sub.add_parser(
        "create", help="create a user",
        description="Create a user. At a terminal the password is asked for (it lets the user "
                    "sign in to the web pages); without one the user only uses API keys.")
    create.add_argument("name", help="1 to 128 letters, digits and . _ @ + -")
    create.add_argument("--role", choices=_ROLES, default="member",
                        help="admin (also manages users and keys), member (reads and "
                             "writes), reviewer (only what is assigned to them), viewer "
                             "(reads) (default: %(default)s)")
    _password_options(create, "create the user without a password (API keys only)")
    _store_option(create)
    create.set_defaults(func=_users_create)

    listing = users_sub.add_parser("list", help="list the users")
    _store_option(listing)
    listing.set_defaults(func=_users_list)

    set_role = users_sub.add_parser("set-role", help="give a user another role")
    set_role.add_argument("name")
    set_role.add_argument("role", choices=_ROLES)
    _store_option(set_role)
    set_role.set_defaults(func=_users_set_role)

    for action, help_text, disable in (
            ("disable", "disable a user: signed out, keys refused", True),
            ("enable", "enable a disabled user again", False)):
        command = users_sub.add_parser(action, help=help_text)
        command.add_argument("name")
        _store_option(command)
        command.set_defaults(func=_users_disable, disable=disable)

    set_password = users_sub.add_parser(
        "set-password", help="set or remove a user's password (ends their sign-ins)")
    set_password.add_argument("name")
    _password_options(set_password, "remove the password (API keys only)")
    _store_option(set_password)
    set_password.set_defaults(func=_users_set_password)

    keys = sub.add_parser("keys", help="manage API keys (what SDKs send to a server with "
                                       "--auth)",
                          description="Manage API keys: what SDKs send (ASSAY_API_KEY).")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    key_create = keys_sub.add_parser(
        "create", help="create a key and print it (once)",
        description="Create an API key. The key alone goes to standard output, once: it is "
                    "stored only as a hash and cannot be shown again.")
    key_create.add_argument("name", help="what the key is for, e.g. 'production app'")
    key_create.add_argument("--user", required=True, help="whose key it is")
    key_create.add_argument("--expires-in-days", type=float, default=None, metavar="N",
                            help="days until the key stops working (default: never)")
    _store_option(key_create)
    key_create.set_defaults(func=_keys_create)

    key_list = keys_sub.add_parser("list", help="list keys (never their secrets)")
    key_list.add_argument("--user", default=None, help="only this user's keys")
    _store_option(key_list)
    key_list.set_defaults(func=_keys_list)

    revoke = keys_sub.add_parser("revoke", help="revoke a key for good")
    revoke.add_argument("key_id", help="the key's id, as 'assay keys list' shows it")
    _store_option(revoke)
    revoke.set_defaults(func=_keys_revoke)
