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


def checkpoint_payload(chain: str, seq: int, hash_: str, created_at) -> bytes:
    """The bytes a checkpoint signature covers."""
    return canonical_json({"v": 1, "chain": chain, "seq": seq, "hash": hash_,
                           "created_at": created_at.isoformat(timespec="microseconds")}).encode()
