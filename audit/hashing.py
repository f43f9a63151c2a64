import hashlib
import json

GENESIS_HASH = "0" * 64

# The fields a row's hash covers, in a fixed order; adding one is a chain format change.
HASHED_FIELDS = (
    "chain", "seq", "tenant_id", "occurred_at", "action", "severity", "actor_type", "actor_id",
    "actor_label", "target_type", "target_id", "target_label", "client_id", "resource", "ip", "user_agent",
    "request_id", "data", "prev_hash",
)


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(event) -> str:
    payload = {}
    for name in HASHED_FIELDS:
        value = getattr(event, name)
        if name == "occurred_at":
            value = value.isoformat(timespec="microseconds")
        elif name == "tenant_id" and value is not None:
            value = str(value)
        payload[name] = value
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def purge_payload(purge) -> bytes:
    """The bytes a purge record's signature covers."""
    return canonical_json({"v": 1, "kind": "purge", "chain": purge.chain, "first_seq": purge.first_seq,
                           "last_seq": purge.last_seq, "count": purge.count, "first_hash": purge.first_hash,
                           "last_hash": purge.last_hash, "retention_days": purge.retention_days,
                           "created_at": purge.created_at.isoformat(timespec="microseconds")}).encode()


def checkpoint_payload(chain: str, seq: int, hash_: str, created_at) -> bytes:
    """The bytes a checkpoint signature covers."""
    return canonical_json({"v": 1, "chain": chain, "seq": seq, "hash": hash_,
                           "created_at": created_at.isoformat(timespec="microseconds")}).encode()
