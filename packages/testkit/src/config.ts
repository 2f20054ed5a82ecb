import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TlsMaterial } from './tls.js'

/** Quotes a value for a redis.conf line (double quotes, backslash escapes). */
export const q = (value: string | number) => JSON.stringify(String(value))

/** Settings every node shares: loopback only, no persistence, logs in its own folder. */
export function baseConfig(opts: {
  port: number
  dir: string
  logfile: string
  tls?: TlsMaterial
  /** With `tls`: `tls-auth-clients yes` (clients must present a certificate the CA signed). */
  tlsAuthClients?: boolean
}): string[] {
  return [
    ...(opts.tls ? tlsConfigLines(opts.tls, opts.port, opts.tlsAuthClients) : [`port ${opts.port}`]),
    'bind 127.0.0.1',
    `dir ${q(opts.dir)}`,
    `logfile ${q(join(opts.dir, opts.logfile))}`,
    'daemonize no',
    `save ""`,
    'appendonly no',
    // the default 5 s wait for more replicas before a diskless full sync would dominate every startup
    'repl-diskless-sync-delay 0',
  ]
}

export function writeConfig(dir: string, file: string, lines: string[]): string {
  const path = join(dir, file)
  writeFileSync(path, `${lines.join('\n')}\n`)
  return path
}

/**
 * redis.conf / sentinel.conf lines that serve TLS only, on `port` (the plain port is off). Clients are not
 * asked for certificates unless `authClients`; replication (and, for sentinels, every outgoing link) runs
 * over TLS too.
 */
export function tlsConfigLines(material: TlsMaterial, port: number, authClients = false): string[] {
  return [
    'port 0',
    `tls-port ${port}`,
    `tls-cert-file ${q(material.certFile)}`,
    `tls-key-file ${q(material.keyFile)}`,
    `tls-ca-cert-file ${q(material.caFile)}`,
    `tls-auth-clients ${authClients ? 'yes' : 'no'}`,
    'tls-replication yes',
  ]
}
