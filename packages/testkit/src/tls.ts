import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { redisBinary, which } from './binary.js'
import { memoByKey } from './memo.js'

/** A throwaway CA and the server certificate it signed, as files in a topology's folder. */
export interface TlsMaterial {
  /** The CA certificate (PEM): what a client passes as `tls: { ca }`. */
  readonly ca: string
  readonly caFile: string
  /** Server certificate (SAN IP:127.0.0.1, DNS:localhost) and its key, shared by every node. */
  readonly certFile: string
  readonly keyFile: string
  /**
   * A client certificate (CN=tiercache-client, clientAuth only) signed by the same CA, and its key (PEM):
   * what a client passes as `tls: { cert, key }` to a server started with `tlsAuthClients`.
   */
  readonly clientCert: string
  readonly clientKey: string
}

export interface TlsAvailability {
  available: boolean
  reason?: string
}

const openssl = (args: string[]) =>
  execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 })

/**
 * Writes a fresh CA and a server certificate signed by it into `dir` with the `openssl` CLI. EC P-256
 * keys: a few ms each, where RSA would cost a noticeable part of a topology's startup on 2 cores. Valid for
 * two days: nothing outlives a test run, and the client must never see an expired certificate.
 */
export function generateTlsMaterial(dir: string): TlsMaterial {
  const caKey = join(dir, 'ca.key')
  const caFile = join(dir, 'ca.crt')
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    caKey,
    '-out',
    caFile,
    '-days',
    '2',
    '-subj',
    '/CN=tiercache testkit CA',
  ])
  /** A key and a certificate signed by the CA, with `extensions` (one per line). */
  const issue = (name: string, subject: string, extensions: readonly string[]) => {
    const keyFile = join(dir, `${name}.key`)
    const csr = join(dir, `${name}.csr`)
    const certFile = join(dir, `${name}.crt`)
    const ext = join(dir, `${name}.ext`)
    openssl(['req', ...ec, '-keyout', keyFile, '-out', csr, '-subj', subject])
    writeFileSync(ext, [...extensions, ''].join('\n'))
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caFile,
      '-CAkey',
      caKey,
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      '2',
      '-extfile',
      ext,
      '-out',
      certFile,
    ])
    return { keyFile, certFile }
  }
  const { keyFile, certFile } = issue('server', '/CN=localhost', [
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    // clientAuth too: replicas and sentinels present the same certificate when they connect to a node
    'extendedKeyUsage=serverAuth,clientAuth',
  ])
  const client = issue('client', '/CN=tiercache-client', [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature',
    'extendedKeyUsage=clientAuth',
  ])
  return {
    ca: readFileSync(caFile, 'utf8'),
    caFile,
    certFile,
    keyFile,
    clientCert: readFileSync(client.certFile, 'utf8'),
    clientKey: readFileSync(client.keyFile, 'utf8'),
  }
}

const remembered = memoByKey<TlsAvailability>()

/**
 * Whether TLS topologies can start here: `openssl` on PATH and a server built with TLS. Synchronous (for
 * `describe.skipIf`) and cached. The probe loads real certificates (`--tls-replication yes` makes the
 * server configure TLS at startup) and then exits on its own ("not listen anywhere"); a build without TLS
 * rejects the `tls-*` directives instead.
 */
export function tlsAvailable(binary?: string): TlsAvailability {
  return remembered(binary ?? process.env.TIERCACHE_REDIS_SERVER ?? '', () => probe(binary))
}

function probe(binary: string | undefined): TlsAvailability {
  const bin = redisBinary(binary)
  if (!bin.available || !bin.binary) return { available: false, reason: bin.reason ?? 'no redis-server' }
  if (!which('openssl'))
    return { available: false, reason: 'openssl is not on PATH (needed to make test certificates)' }
  const dir = mkdtempSync(join(tmpdir(), `tiercache-testkit-tls-probe-${process.pid}-`))
  try {
    const material = generateTlsMaterial(dir)
    const run = spawnSync(
      bin.binary,
      [
        '--port',
        '0',
        '--tls-port',
        '0',
        '--tls-replication',
        'yes',
        '--tls-cert-file',
        material.certFile,
        '--tls-key-file',
        material.keyFile,
        '--tls-ca-cert-file',
        material.caFile,
        '--save',
        '',
        '--dir',
        dir,
      ],
      { encoding: 'utf8', timeout: 5_000 },
    )
    const out = `${run.stdout ?? ''}${run.stderr ?? ''}`
    if (/not listen anywhere/i.test(out)) return { available: true }
    const last = out.trim().split('\n').slice(-2).join(' ').trim() || String(run.error ?? run.status)
    return { available: false, reason: `${bin.binary} ${bin.version ?? ''} has no TLS support (${last})` }
  } catch (error) {
    return { available: false, reason: `could not make test certificates: ${(error as Error).message}` }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Throws with the reason when TLS topologies cannot start here. */
export function requireTls(binary?: string): void {
  const tls = tlsAvailable(binary)
  if (!tls.available) throw new Error(`@tiercache/testkit: TLS unavailable: ${tls.reason}`)
}
