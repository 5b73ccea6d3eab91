"""Coral Talk request signatures: the ``X-Coral-Signature`` header of an external moderation phase.

How Coral signs (``server/src/core/server/services/fetch/fetch.ts`` ``generateFetchOptions`` and
``server/src/core/server/models/settings/signingSecret/helpers.ts`` ``generateSignatures`` in
github.com/coralproject/talk): the request body is ``JSON.stringify(request, null, 2)``, sent as
UTF-8; for every *active* signing secret of the phase the header carries
``sha256=<hex HMAC-SHA256 of the body, keyed with the whole secret string>`` and the values are
joined with ``,`` (two values while a rotated secret is still active). The key is the secret as
Coral shows it (``empsec_…``), its UTF-8 bytes, not hex-decoded.

Verification here: the HMAC of the *raw* body bytes (never a re-serialised JSON) with each of our
secrets (one a line in the secret file, so an old and a new secret can both be accepted during a
rotation), compared in constant time with every ``sha256=`` value of the header. Values with
another prefix are ignored, as Coral's own verification example does (``server/WEBHOOKS.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import stat
from collections.abc import Sequence
from pathlib import Path

from ..model.errors import CommentmodError

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Coral-Signature"
PREFIX = "sha256"
MAX_SIGNATURES = 16  # values looked at in one header (Coral sends one per active secret)
_DIGEST_BYTES = hashlib.sha256().digest_size


class CoralSecretError(CommentmodError):
    """The signing secret file is missing, unreadable or holds no secret."""


def load_secrets(path: Path) -> tuple[bytes, ...]:
    """The secrets of a secret file: one a line (surrounding spaces dropped); blank lines and lines
    starting with ``#`` are skipped. Two lines accept requests signed with either secret."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CoralSecretError(
            f"Coral secret file {path} does not exist; write the phase's signing secret into it "
            "(Coral admin > Configure > Moderation phases > your phase > Signing secret)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CoralSecretError(f"could not read the Coral secret file {path}: {exc}") from None
    secrets = tuple(
        line.strip().encode("utf-8")
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    )
    if not secrets:
        raise CoralSecretError(
            f"Coral secret file {path} holds no secret; put the phase's signing secret on one line "
            "(during a rotation, the old and the new secret on two lines)"
        )
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("Coral secret file %s is readable by other users; chmod 600 it", path)
    return secrets


def signature(body: bytes, secret: bytes) -> str:
    """``sha256=<hex>``: one header value, as Coral computes it."""
    return f"{PREFIX}={hmac.new(secret, body, hashlib.sha256).hexdigest()}"


def sign(body: bytes, secrets: Sequence[bytes]) -> str:
    """The whole header value Coral sends for ``body`` signed with ``secrets`` (tests, benchmarks)."""
    return ",".join(signature(body, s) for s in secrets)


def _digests(header: str) -> list[bytes]:
    """The ``sha256=`` digests of a header value (malformed values skipped)."""
    out: list[bytes] = []
    for element in header.split(",")[:MAX_SIGNATURES]:
        prefix, _, value = element.strip().partition("=")
        if prefix.strip() != PREFIX:
            continue
        try:
            digest = bytes.fromhex(value.strip())
        except ValueError:
            continue
        if len(digest) == _DIGEST_BYTES:
            out.append(digest)
    return out


def verify(body: bytes, header: str | None, secrets: Sequence[bytes]) -> bool:
    """Whether some ``sha256=`` value of ``header`` is the HMAC of ``body`` with one of ``secrets``.

    Every (value, secret) pair is compared with :func:`hmac.compare_digest`, without stopping at
    the first match, so the time taken does not depend on where a match is."""
    if not header or not secrets:
        return False
    expected = [hmac.new(secret, body, hashlib.sha256).digest() for secret in secrets]
    matched = False
    for digest in _digests(header):
        for want in expected:
            matched |= hmac.compare_digest(digest, want)
    return matched
