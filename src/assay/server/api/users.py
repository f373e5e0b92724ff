"""Users and API keys: who am I, and (admins) list and create users, change their role or
disable them, create, list and revoke their keys.

Admins only, except ``GET /users/me``: each route declares its action
(``assay.server.permissions``), and the auth middleware enforces the action of the route that
answers, so ``PATCH /users/me`` is a change to the user named "me" (admins), never "who am
I". With auth off, everyone may, as everywhere.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Path, Request
from pydantic import BaseModel, ConfigDict, Field

from assay.entities.user import ApiKey, User
from assay.errors import InvalidParameterError
from assay.server.api.common import EmptyResponse, RequestModel
from assay.server.auth import ApiKeyCache
from assay.server.deps import AccountsDep, CurrentUserDep, SettingsDep
from assay.server.errors import ERROR_RESPONSES, ErrorResponse
from assay.server.permissions import Action, needs
from assay.server.route_tables import RouteTable

__all__ = ["router"]

_AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "No credentials, or not valid ones"},
    403: {"model": ErrorResponse, "description": "The caller is not an admin"},
}
router = RouteTable(tags=["users"], responses={**ERROR_RESPONSES, **_AUTH_RESPONSES})

RoleName = Literal["admin", "member", "reviewer", "viewer"]
_MAX_DAYS = 36_500
_MIN_DAYS = 1 / 86_400
UsernamePath = Annotated[str, Path(description="The user's name", max_length=128)]


class UserModel(BaseModel):
    """A user."""

    username: str = Field(description="The unique name")
    role: RoleName = Field(description="admin, member, reviewer or viewer")
    created_time_ms: int = Field(description="When the user was created (ms since the epoch)")
    disabled: bool = Field(description="A disabled user's keys and sign-ins are refused")
    has_password: bool = Field(description="Whether the user can sign in to the web pages")


class ApiKeyModel(BaseModel):
    """An API key, without its secret."""

    key_id: str = Field(description="The public part of the key, which names it")
    username: str = Field(description="Whose key it is")
    name: str = Field(description="What the key is for")
    created_time_ms: int = Field(description="When it was created (ms since the epoch)")
    last_used_time_ms: int | None = Field(
        description="When it last authenticated a request (to the minute), null if never")
    expires_time_ms: int | None = Field(description="When it stops working, null for never")
    revoked: bool = Field(description="A revoked key is refused")


def _user(user: User) -> UserModel:
    return UserModel.model_validate(user.to_dict())


def _key(key: ApiKey) -> ApiKeyModel:
    return ApiKeyModel.model_validate(key.to_dict())


class MeResponse(BaseModel):
    auth_enabled: bool = Field(description="Whether the server requires credentials")
    user: UserModel | None = Field(description="The caller; null when auth is off")


class UserResponse(BaseModel):
    user: UserModel = Field(description="The user")


class UsersResponse(BaseModel):
    users: list[UserModel] = Field(description="Every user, by name")


class CreateUserRequest(RequestModel):
    username: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$",
                          description="1 to 128 letters, digits and . _ @ + -, starting with "
                                      "a letter or digit")
    role: RoleName = Field(default="member", description="admin, member, reviewer or viewer")
    password: str | None = Field(
        default=None, min_length=8, max_length=1024, pattern=r"\S",
        description="For signing in to the web pages (at least 8 characters); without one "
                    "the user only uses API keys")


class UpdateUserRequest(RequestModel):
    # At least one change (400 "Nothing to change" otherwise).
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["role"], "properties": {"role": {"type": "string"}}},
        {"required": ["disabled"], "properties": {"disabled": {"type": "boolean"}}},
    ]})

    role: RoleName | None = Field(default=None, description="A new role")
    disabled: bool | None = Field(
        default=None, description="true disables the user (signed out, keys refused); false "
                                  "enables them again")


class CreateApiKeyRequest(RequestModel):
    name: str = Field(description="What the key is for, e.g. 'production app'",
                      min_length=1, max_length=250)
    expires_in_days: float | None = Field(
        default=None, ge=_MIN_DAYS, le=_MAX_DAYS,
        description="Days until the key stops working (at least a second's worth); null for "
                    "never")


class CreateApiKeyResponse(BaseModel):
    key: str = Field(description="The key (assay_<key_id>_<secret>): shown this once, never "
                                 "stored; send it as 'Authorization: Bearer <key>' "
                                 "(ASSAY_API_KEY)")
    api_key: ApiKeyModel = Field(description="The key as listings show it")


class ApiKeysResponse(BaseModel):
    keys: list[ApiKeyModel] = Field(description="The user's keys, oldest first")


def _forget_verified_keys(request: Request) -> None:
    # Keys the middleware trusted may now be revoked, or their user changed.
    cache: ApiKeyCache = request.app.state.api_key_cache
    cache.clear()


@router.get("/users/me", response_model=MeResponse, openapi_extra=needs(Action.IDENTIFY))
def get_me(user: CurrentUserDep, settings: SettingsDep) -> MeResponse:
    """Who the caller is (null when the server runs without auth)."""
    return MeResponse(auth_enabled=settings.auth,
                      user=None if user is None else _user(user))


@router.get("/users", response_model=UsersResponse, openapi_extra=needs(Action.MANAGE_USERS))
def list_users(accounts: AccountsDep) -> UsersResponse:
    """Every user, by name (admins)."""
    return UsersResponse(users=[_user(u) for u in accounts.list_users()])


@router.post("/users", response_model=UserResponse,
             responses={409: ERROR_RESPONSES[400] | {"description": "The name is taken"}},
             openapi_extra=needs(Action.MANAGE_USERS))
def create_user(body: CreateUserRequest, accounts: AccountsDep) -> UserResponse:
    """Create a user (admins); 409 if the name is taken."""
    return UserResponse(user=_user(accounts.create_user(body.username, body.role,
                                                        body.password)))


@router.patch("/users/{username}", response_model=UserResponse,
              openapi_extra=needs(Action.MANAGE_USERS))
def update_user(username: UsernamePath, body: UpdateUserRequest, accounts: AccountsDep,
                request: Request) -> UserResponse:
    """Change a user's role, or disable or enable them (admins)."""
    if body.role is None and body.disabled is None:
        raise InvalidParameterError("Nothing to change: give 'role' or 'disabled'")
    user = accounts.get_user(username)
    if body.role is not None:
        user = accounts.set_user_role(username, body.role)
    if body.disabled is not None:
        user = accounts.disable_user(username) if body.disabled \
            else accounts.enable_user(username)
    _forget_verified_keys(request)
    return UserResponse(user=_user(user))


@router.post("/users/{username}/keys", response_model=CreateApiKeyResponse,
             openapi_extra=needs(Action.MANAGE_USERS))
def create_api_key(username: UsernamePath, body: CreateApiKeyRequest,
                   accounts: AccountsDep) -> CreateApiKeyResponse:
    """Create an API key for a user (admins). The response holds the key itself: it is
    shown this once and cannot be recovered."""
    expires = None if body.expires_in_days is None else timedelta(days=body.expires_in_days)
    key_id, token = accounts.create_api_key(username, body.name, expires)
    [listed] = [k for k in accounts.list_api_keys(username) if k.key_id == key_id]
    return CreateApiKeyResponse(key=token, api_key=_key(listed))


@router.get("/users/{username}/keys", response_model=ApiKeysResponse,
            openapi_extra=needs(Action.MANAGE_USERS))
def list_api_keys(username: UsernamePath, accounts: AccountsDep) -> ApiKeysResponse:
    """A user's API keys, without their secrets (admins)."""
    return ApiKeysResponse(keys=[_key(k) for k in accounts.list_api_keys(username)])


@router.delete("/keys/{key_id}", response_model=EmptyResponse,
               openapi_extra=needs(Action.MANAGE_USERS))
def revoke_api_key(key_id: Annotated[str, Path(description="The key's id", max_length=64)],
                   accounts: AccountsDep, request: Request) -> EmptyResponse:
    """Revoke an API key for good (admins); it is refused from now on."""
    accounts.revoke_api_key(key_id)
    _forget_verified_keys(request)
    return EmptyResponse()
