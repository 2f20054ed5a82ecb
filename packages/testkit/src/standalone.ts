import { rmSync } from 'node:fs'
import { redisBinary, requireBinary } from './binary.js'
import { type AclUser, startDataNode } from './data-node.js'
import { dockerAvailable, startStandaloneContainer } from './docker.js'
import { type NodeControl, type RedisNode, registry } from './process.js'
import { generateTlsMaterial, requireTls, type TlsMaterial } from './tls.js'
import { asManaged, redisUrl } from './topology.js'

export interface StandaloneOptions {
  /** requirepass for the default user */
  password?: string
  /** extra ACL users (written to the config, so they survive `restart`) */
  users?: AclUser[]
  /** extra command-line arguments, e.g. ['--maxmemory', '10mb'] */
  args?: string[]
  /** redis-server / valkey-server path; default TIERCACHE_REDIS_SERVER, then PATH */
  binary?: string
  /**
   * 'binary' (default behaviour of 'auto' when a binary exists) runs a local process; 'container' uses
   * testcontainers (redis:7); 'auto' prefers the binary and falls back to a container.
   */
  engine?: 'auto' | 'binary' | 'container'
  /** container image for engine 'container' (default 'redis:7') */
  image?: string
  /**
   * Serve TLS only (`--port 0 --tls-port P`), with a throwaway CA and a server certificate for
   * 127.0.0.1/localhost; clients need no certificate. Binary engine only. See `tlsAvailable()`.
   */
  tls?: boolean
  /**
   * With `tls`: `tls-auth-clients yes`, so a client must present a certificate signed by the topology's CA
   * (`clientCert` / `clientKey` of the result).
   */
  tlsAuthClients?: boolean
}

export interface StandaloneTopology extends NodeControl {
  /** redis://[:password@]127.0.0.1:port, or rediss://… with `tls` */
  url: string
  host: string
  /** the TLS port with `tls` (the plain port is off) */
  port: number
  node: RedisNode
  /** With `tls`: the CA certificate (PEM) that signed the server's, for `tls: { ca }`. */
  ca?: string
  /** With `tls`: a client certificate and key (PEM) signed by the same CA, for `tls: { cert, key }`. */
  clientCert?: string
  clientKey?: string
}

export async function startStandalone(opts: StandaloneOptions = {}): Promise<StandaloneTopology> {
  const engine = opts.engine ?? 'auto'
  if (opts.tls && engine === 'container')
    throw new Error(`@tiercache/testkit: startStandalone({ tls }) runs a local binary only, not a container`)
  if (engine === 'container') return startStandaloneContainer(opts)
  if (engine === 'auto' && !opts.tls) {
    if (!redisBinary(opts.binary).available && (await dockerAvailable()).available) {
      return startStandaloneContainer(opts)
    }
  }
  const binary = requireBinary(opts.binary)
  if (opts.tls) requireTls(opts.binary)
  if (opts.tlsAuthClients && !opts.tls)
    throw new Error(`@tiercache/testkit: startStandalone({ tlsAuthClients }) needs tls: true`)
  const dir = registry.makeDir('standalone')
  try {
    const tls: TlsMaterial | undefined = opts.tls ? generateTlsMaterial(dir) : undefined
    const node = await startDataNode({
      dir,
      binary,
      tls,
      tlsAuthClients: opts.tlsAuthClients,
      password: opts.password,
      users: opts.users,
      args: opts.args,
    })
    let stopped: Promise<void> | undefined
    return {
      url: redisUrl(node, opts.password, tls !== undefined),
      host: node.host,
      port: node.port,
      node,
      ...(tls ? { ca: tls.ca, clientCert: tls.clientCert, clientKey: tls.clientKey } : {}),
      kill: (n) => asManaged(n, [node]).kill(),
      pause: (n) => asManaged(n, [node]).pause(),
      resume: (n) => asManaged(n, [node]).resume(),
      restart: (n) => asManaged(n, [node]).restart(),
      stop: () => {
        stopped ??= node.kill().then(() => rmSync(dir, { recursive: true, force: true }))
        return stopped
      },
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}
