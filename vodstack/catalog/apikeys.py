"""API key records: only a key's SHA-256 is stored, with a public id to find it by."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    name: str
    hash: str
    """Hex SHA-256 of the whole key (see `vodstack.api_keys`)."""
    created_at: float
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> ApiKeyRecord:
        return cls(**json.loads(text))


class ApiKeyStore(Protocol):
    async def add_key(self, record: ApiKeyRecord) -> None:
        """Store a new key record; ValueError if the id exists."""

    async def get_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_keys(self) -> list[ApiKeyRecord]:
        """Every key, revoked ones included, oldest first."""

    async def revoke_key(self, key_id: str, at: float) -> bool:
        """Mark revoked; False if there is no such key (revoking twice keeps the first time)."""
