"""A real S3-compatible server for tests/it/store_s3.rs: moto's server (moto[server], pinned in
scripts/setup) on 127.0.0.1:PORT, with request signing and IAM authorisation switched on.

* The access key given in the environment (S3_TEST_ACCESS_KEY_ID / S3_TEST_SECRET_ACCESS_KEY)
  belongs to an IAM user allowed s3:*, so a server restarted on the same port accepts the same
  credentials; any other key, or a wrong secret, is refused (403) by moto itself.
* moto 5.2.5 answers PutObject with If-None-Match: * by checking whether the key exists and
  then writing it, without a lock between the two (S3 itself decides atomically). The tests
  race such writes, so this launcher makes each PutObject one step under a lock, as on S3.
  (Without it: 0 double winners seen in 100 rounds of 16 threads, but the window exists.)
* moto 5.2.5 does not check presigned (query-string) signatures and, with authorisation on,
  fails them with a 500 (it looks for an Authorization header). So this launcher verifies them
  itself, the way S3 does (SigV4 query auth: X-Amz-Date + X-Amz-Expires, then the signature),
  answers 403 when they are wrong, and lets moto serve the request when they are right.

Prints "ready" on stdout once it serves; runs until killed.

Usage: python3 s3_server.py PORT
"""

import datetime
import hashlib
import hmac
import json
import os
import sys
import threading
from urllib.parse import parse_qsl, quote, urlparse

from moto import settings
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.models import iam_backends
from moto.s3.exceptions import S3AccessDeniedError, S3ClientError
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer

port = int(sys.argv[1])
key_id = os.environ["S3_TEST_ACCESS_KEY_ID"]
secret = os.environ["S3_TEST_SECRET_ACCESS_KEY"]

iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
iam.create_user(region_name="us-east-1", user_name="pixelproof")
key = iam.create_access_key(user_name="pixelproof")
key.access_key_id = key_id
key.secret_access_key = secret
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
iam.put_user_policy("pixelproof", "s3", json.dumps(policy))


class PresignedRefused(S3ClientError):
    code = 403

    def __init__(self, code: str, message: str):
        super().__init__(code, message)


def _hmac(k: bytes, msg: str) -> bytes:
    return hmac.new(k, msg.encode(), hashlib.sha256).digest()


def verify_presigned(method: str, raw_path: str, query: str, headers) -> None:
    params = parse_qsl(query, keep_blank_values=True)
    got = dict(params)
    if got.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise PresignedRefused("AuthorizationQueryParametersError", "only AWS4-HMAC-SHA256 is supported")
    cred = got.get("X-Amz-Credential", "").split("/")
    if len(cred) != 5 or cred[0] != key_id:
        raise PresignedRefused("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    amz_date = got.get("X-Amz-Date", "")
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        expires = int(got.get("X-Amz-Expires", ""))
    except ValueError:
        raise PresignedRefused("AuthorizationQueryParametersError", "bad X-Amz-Date or X-Amz-Expires")
    if datetime.datetime.now(datetime.timezone.utc) > signed_at + datetime.timedelta(seconds=expires):
        raise PresignedRefused("AccessDenied", "Request has expired")
    signed_headers = got.get("X-Amz-SignedHeaders", "")
    canonical_query = "&".join(
        sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params if k != "X-Amz-Signature")
    )
    canonical_headers = "".join(f"{h}:{(headers.get(h) or '').strip()}\n" for h in signed_headers.split(";"))
    canonical_request = "\n".join(
        [method, raw_path, canonical_query, canonical_headers, signed_headers, "UNSIGNED-PAYLOAD"]
    )
    scope = "/".join(cred[1:])
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    k = _hmac(("AWS4" + secret).encode(), cred[1])
    for part in cred[2:]:
        k = _hmac(k, part)
    expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, got.get("X-Amz-Signature", "")):
        raise PresignedRefused(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )


original = ActionAuthenticatorMixin._authenticate_and_authorize_action


def authenticate(self, iam_request_cls, resource="*"):
    if "Authorization" in self.headers:
        return original(self, iam_request_cls, resource)
    # Anonymous, or signed in the query string: only SigV4 presigned GET/HEAD are accepted.
    query = urlparse(self.uri).query
    if "X-Amz-Signature=" not in query or self.method not in ("GET", "HEAD"):
        raise S3AccessDeniedError()
    verify_presigned(self.method, self.raw_path, query, self.headers)
    return None


ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate

put_lock = threading.Lock()
original_put_object = S3Response.put_object


def put_object(self):
    with put_lock:
        return original_put_object(self)


S3Response.put_object = put_object

# Every request must be signed by a known key (moto lets this many requests through first).
settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
print("ready", flush=True)
threading.Event().wait()
