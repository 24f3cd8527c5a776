"""moto's backends as the embedded AWS keeps them on disk: pickled with fresh locks and portable keys."""

from __future__ import annotations

import _thread
import io
import pickle
import threading
import time
from typing import Any

# The services the pond stores anything in; others (STS) hold nothing worth keeping.
STATE_SERVICES = ("dynamodb", "s3", "sqs", "kms", "secretsmanager")
SNAPSHOT_FORMAT = 1
# Pickling races SQS receives (they do not take the lock): retry a few times.
PICKLE_ATTEMPTS = 5


class _BackendPickler(pickle.Pickler):
    """Pickles moto's backends: locks become fresh ones, private keys (KMS) their DER encoding."""

    def reducer_override(self, obj: Any) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        if isinstance(obj, threading.Condition):
            return threading.Condition, ()
        if isinstance(obj, _thread.LockType):
            return threading.Lock, ()
        if isinstance(obj, _thread.RLock):
            return threading.RLock, ()
        if isinstance(obj, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            der = obj.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _load_private_key, (der,)
        return NotImplemented


def _load_private_key(der: bytes) -> Any:
    """Unpickles a KMS key's private key (cryptography's own loader lives in a module pickle cannot import)."""
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(der, None)


def pickle_backends(seq: int) -> bytes:
    """Every stored backend, pickled; retried when a request racing the pickler changes a dict under it."""
    from moto.backends import get_backend

    for attempt in range(1, PICKLE_ATTEMPTS + 1):
        backends = {
            service: {account: dict(regions) for account, regions in get_backend(service).items()}  # type: ignore[call-overload]
            for service in STATE_SERVICES
        }
        buffer = io.BytesIO()
        try:
            _BackendPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(
                {"format": SNAPSHOT_FORMAT, "seq": seq, "backends": backends}
            )
        except RuntimeError:  # "dictionary changed size during iteration", and the like
            if attempt == PICKLE_ATTEMPTS:
                raise
            time.sleep(0.01 * attempt)
            continue
        return buffer.getvalue()
    raise AssertionError("unreachable")


def install_backends(backends: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Put unpickled backends where moto's request handlers look them up (by account, then region)."""
    from moto.backends import get_backend

    for service, accounts in backends.items():
        backend_dict = get_backend(service)  # type: ignore[call-overload]
        for account, regions in accounts.items():
            for region, backend in regions.items():
                backend_dict[account][region] = backend
