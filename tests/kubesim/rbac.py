"""Bearer tokens, the users they stand for, and the requests each user may not make.

Authorization is by exception: a user may do everything except what its `forbidden` rules list,
which is enough to show how a client takes a 403. Unknown tokens get 401; a request without a
token is `system:anonymous`, allowed discovery only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.kubesim.resources import ResourceType
from tests.kubesim.status import ApiError, unauthorized

Rule = tuple[str, str, str | None]  # (verb, resource[/subresource], namespace or None = any)
ADMIN_TOKEN = "admin"  # noqa: S105 - a test cluster's well-known token
ANONYMOUS = "system:anonymous"


@dataclass(frozen=True)
class User:
    """Who a token authenticates as, and what it may not do ("*" matches any verb/resource)."""

    name: str
    forbidden: tuple[Rule, ...] = field(default=())

    def may(self, verb: str, resource: str, namespace: str | None) -> bool:
        if self.name == ANONYMOUS:
            return False
        for rule_verb, rule_resource, rule_namespace in self.forbidden:
            if (
                rule_verb in (verb, "*")
                and rule_resource in (resource, "*")
                and rule_namespace in (namespace, None)
            ):
                return False
        return True


class Users:
    """The token table; starts with `admin`, allowed everything."""

    def __init__(self) -> None:
        self._by_token: dict[str, User] = {ADMIN_TOKEN: User("kubernetes-admin")}

    def add(self, token: str, forbidden: Iterable[Rule] = (), user: str | None = None) -> User:
        name = user or f"system:serviceaccount:chaosmonkey:{token}"
        self._by_token[token] = User(name, tuple(forbidden))
        return self._by_token[token]

    def authenticate(self, authorization: str | None) -> User:
        """The user of an `Authorization` header; 401 for a token nobody has."""
        if not authorization:
            return User(ANONYMOUS)
        scheme, _, token = authorization.partition(" ")
        user = self._by_token.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise unauthorized()
        return user


def forbidden(
    user: User,
    verb: str,
    rtype: ResourceType,
    subresource: str | None,
    namespace: str | None,
    name: str | None,
) -> ApiError:
    """The 403 the API server answers with, in its words."""
    resource = f"{rtype.plural}/{subresource}" if subresource else rtype.plural
    subject = f'{rtype.qualified} "{name}"' if name else rtype.qualified
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{user.name}" cannot {verb} resource "{resource}" '
        f'in API group "{rtype.group}" {scope}'
    )
    details: dict[str, str] = {"name": name} if name else {}
    if rtype.group:
        details["group"] = rtype.group
    details["kind"] = rtype.plural
    return ApiError(403, "Forbidden", message, details)
