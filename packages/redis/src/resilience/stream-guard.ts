import type { Redis } from 'ioredis'

const ignore = (): void => undefined

/**
 * Keeps a second socket error from crashing the process. ioredis listens for a connection's `error` with
 * `once` (and its Sentinel connector adds another `once`), so a socket that fails twice — a TLS socket can:
 * a reset, then the peer's alert while it is torn down (seen in CI: "tlsv1 alert decode error" as an uncaught
 * exception) — emits its second error with no listener, and Node throws it. Every socket the client opens
 * gets a permanent no-op listener; the first error still reaches ioredis, which reports it and reconnects.
 *
 * Connections the client opens on its own behalf get the same guard: the duplicate of a node connection on
 * which ioredis Cluster reads its slot map (lazy like the node, so guarded before its socket opens;
 * unguarded, a TLS alert on one crashed a CI run in the Cluster wrong-CA test), and the connections a
 * Sentinel-managed client opens to ask the sentinels for the master (made lazy here for the same reason:
 * their first command opens them).
 *
 * Reaches into ioredis' `connector` (present in ioredis 5 and 6); without it the client is left as is.
 */
export function guardStreams<C extends Redis>(client: C): C {
  const connector = (client as unknown as { connector?: { connect?: (...args: unknown[]) => unknown } })
    .connector
  const connect = connector?.connect
  if (connector === undefined || typeof connect !== 'function') return client
  connector.connect = function (this: unknown, ...args: unknown[]) {
    const opened = connect.apply(connector, args)
    const guard = (stream: unknown) => {
      const socket = stream as { on?: (event: string, listener: () => void) => void } | undefined
      socket?.on?.('error', ignore)
      return stream
    }
    return opened instanceof Promise ? opened.then(guard) : guard(opened)
  }
  type ToSentinel = (endpoint: unknown, options?: object) => Redis
  const sentinelConnector = connector as { connectToSentinel?: ToSentinel }
  const toSentinel = sentinelConnector.connectToSentinel
  if (typeof toSentinel === 'function') {
    sentinelConnector.connectToSentinel = (endpoint, options) =>
      guardStreams(toSentinel.call(connector, endpoint, { ...options, lazyConnect: true }))
  }
  const duplicate = client.duplicate
  if (typeof duplicate === 'function') {
    client.duplicate = ((...args: Parameters<Redis['duplicate']>) =>
      guardStreams(duplicate.apply(client, args))) as C['duplicate']
  }
  return client
}
