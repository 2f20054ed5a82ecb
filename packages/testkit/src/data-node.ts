import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { baseConfig, q, writeConfig } from './config.js'
import { freePort } from './ports.js'
import { ManagedNode, startWithPortRetry } from './process.js'
import type { TlsMaterial } from './tls.js'

export interface AclUser {
  name: string
  password: string
  /** ACL SETUSER rules, e.g. '~billing:* &billing:* +@all' */
  rules: string
}

export interface DataNodeOptions {
  /** The topology's folder; the node gets its own folder in it, named after its port. */
  dir: string
  /** Put before the port in the node's folder name, e.g. 'redis-' (default none). */
  dirPrefix?: string
  binary: string
  /** Serve TLS only with this material; the testkit then trusts its CA. */
  tls?: TlsMaterial
  /** With `tls`: require client certificates (the testkit presents the material's client certificate). */
  tlsAuthClients?: boolean
  /** requirepass for the default user (the testkit authenticates with it too) */
  password?: string
  /** Also `masterauth` = `password`: nodes that replicate (or may become replicas) sync with it. */
  masterauth?: boolean
  /** Extra ACL users, in the config so they survive `restart`. */
  users?: readonly AclUser[]
  /** Config lines after the shared ones and before the auth lines, e.g. the cluster settings. */
  extraLines?: readonly string[]
  /** `replicaof 127.0.0.1 <port>` as the last config line. */
  replicaOf?: number
  /** Extra command-line arguments (also used on `restart`). */
  args?: string[]
  /** Cluster: the port plus this offset (the bus port) must be free too. */
  busOffset?: number
}

/**
 * Starts one redis-server data node on a free loopback port, in its own folder with a written redis.conf,
 * and waits until it answers PING; picks a new port when the chosen one was taken meanwhile.
 */
export function startDataNode(opts: DataNodeOptions): Promise<ManagedNode> {
  const { tls, password } = opts
  return startWithPortRetry(async () => {
    const port = await freePort({ busOffset: opts.busOffset })
    const nodeDir = join(opts.dir, `${opts.dirPrefix ?? ''}${port}`)
    mkdirSync(nodeDir, { recursive: true })
    const lines = [
      ...baseConfig({ port, dir: nodeDir, logfile: 'redis.log', tls, tlsAuthClients: opts.tlsAuthClients }),
      ...(opts.extraLines ?? []),
    ]
    if (password !== undefined) {
      lines.push(`requirepass ${q(password)}`)
      if (opts.masterauth) lines.push(`masterauth ${q(password)}`)
    }
    for (const user of opts.users ?? []) {
      lines.push(`user ${user.name} on ${q(`>${user.password}`)} ${user.rules}`)
    }
    if (opts.replicaOf !== undefined) lines.push(`replicaof 127.0.0.1 ${opts.replicaOf}`)
    return new ManagedNode({
      kind: 'redis',
      host: '127.0.0.1',
      port,
      dir: nodeDir,
      binary: opts.binary,
      configFile: writeConfig(nodeDir, 'redis.conf', lines),
      args: opts.args ?? [],
      auth: {
        password,
        ...(tls
          ? {
              tls: {
                ca: tls.ca,
                ...(opts.tlsAuthClients ? { cert: tls.clientCert, key: tls.clientKey } : {}),
              },
            }
          : {}),
      },
    })
  })
}
