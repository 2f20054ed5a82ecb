import { type ConnectionOptions, connect } from 'node:tls'

/** Where a {@link probeTlsRefusal} connects, with the client's own TLS options. */
export interface TlsProbeTarget {
  readonly host: string
  readonly port: number
  readonly tls: ConnectionOptions
}

/**
 * Asks a TLS server whether it refuses this client, without the race that hides the answer.
 *
 * Under TLS 1.3 the server checks the client certificate only after the client considers the handshake
 * done, and refuses it with an alert. ioredis writes its first command at once; when that write meets the
 * server's close first, the kernel answers with a reset, which discards the unread alert, and a reset is a
 * retryable connection loss. On a loaded machine that can repeat reconnect after reconnect (seen in CI:
 * no TLS_FAILED after 10 s). The probe opens one connection with the same options and writes nothing, so
 * the server's verdict arrives intact: the alert (resolved as the socket's error) or its session tickets
 * (accepted: resolved `undefined`). A close, a timeout or a server without tickets is inconclusive:
 * `undefined` too. Never rejects.
 */
export function probeTlsRefusal(target: TlsProbeTarget, timeoutMs: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let settled = false
    const finish = (error?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(error)
    }
    const socket = connect({ ...target.tls, host: target.host, port: target.port })
    // A second error while the socket is torn down must not be unhandled.
    socket.on('error', (error) => finish(error))
    socket.on('session', () => finish())
    socket.on('close', () => finish())
    const timer = setTimeout(() => finish(), Math.max(1, timeoutMs))
    timer.unref?.()
  })
}
