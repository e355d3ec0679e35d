"""The budget store's Redis connection: a plain URL, TLS, or Redis Sentinel.

- `redis://host:6379/0`, and `rediss://host:6380/0` for TLS (redis-py's URL options,
  e.g. `?ssl_ca_certs=/etc/ssl/ca.pem&ssl_cert_reqs=required`);
- `redis+sentinel://[user:password@]s1:26379,s2:26379,s3:26379/<service>[/<db>]`,
  and `rediss+sentinel://...` for TLS to the sentinels and the primary. The client
  asks the sentinels for the current primary and asks again after a failover.

The counters must never be evicted: a Redis that drops keys under memory pressure
would silently forget spending or reservations. `refuse_evicting_policy` checks the
primary's `maxmemory-policy` at start-up and refuses anything but `noeviction`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
REQUIRED_POLICY = "noeviction"


class EvictingRedis(RuntimeError):
    """The budget store's Redis may evict keys: the gateway does not start on it."""


#: Connections to Redis one worker opens at most for its budget calls.
MAX_CONNECTIONS = 100


def redis_client(url: str, timeout_s: float, max_connections: int = MAX_CONNECTIONS) -> Redis:
    """A client for `url`; for a Sentinel URL, one that always talks to the current primary.

    A plain URL gets a blocking pool: a call beyond `max_connections` in flight waits up
    to `timeout_s` for a connection to come free. redis-py's default pool raises at once
    instead, and a worker admitting 200 streams a second had 346 of 2,000 refused 503
    that way (bench/streams_scale.py)."""
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=timeout_s,
                                               socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return Redis(connection_pool=pool)
    tls = SENTINEL_SCHEMES[parts.scheme]
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    nodes = []
    for node in hosts.split(","):
        host, _, port = node.rpartition(":") if ":" in node else (node, "", "26379")
        nodes.append((host, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("a Sentinel URL names its service: redis+sentinel://host:26379/<service>")
    service, database = path[0], int(path[1]) if len(path) > 1 else 0
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    connection: dict[str, Any] = {
        "socket_timeout": timeout_s, "socket_connect_timeout": timeout_s, "db": database,
        "username": unquote(username) or None, "password": unquote(password) or None,
    }
    if tls:
        connection["ssl"] = True
        for key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"):
            if key in options:
                connection[key] = options[key]
    sentinel_options = {k: v for k, v in connection.items() if k != "db"}
    sentinel = Sentinel(nodes, sentinel_kwargs=sentinel_options, **connection)
    return sentinel.master_for(service)


async def refuse_evicting_policy(client: Redis) -> str:
    """The primary's `maxmemory-policy`; raises `EvictingRedis` unless it is `noeviction`.

    Read from INFO (allowed where managed services disable CONFIG)."""
    info = await client.info("memory")
    policy = str(info.get("maxmemory_policy", "")).strip()
    if policy != REQUIRED_POLICY:
        raise EvictingRedis(
            f"the budget store's Redis has maxmemory-policy {policy or 'unknown'!r}: it may evict budget "
            f"counters and reservations. Set maxmemory-policy {REQUIRED_POLICY} (and size maxmemory for the "
            "counters) before starting Sobria")
    return policy
