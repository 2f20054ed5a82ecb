import { connect, type Socket } from 'node:net'
import { type ConnectionOptions, connect as connectTls } from 'node:tls'

/** A parsed RESP2 reply. Error replies inside arrays are kept as `RespError` values. */
export type RespReply = string | number | null | RespError | RespReply[]

/** An error reply from the server (`-ERR ...`, `-LOADING ...`); `code` is its first word. */
export class RespError extends Error {
  readonly code: string
  constructor(message: string) {
    super(message)
    this.name = 'RespError'
    this.code = message.split(' ', 1)[0] ?? ''
  }
}

export interface RespOptions {
  password?: string | undefined
  username?: string | undefined
  timeoutMs?: number
  /** Speak TLS with these Node TLS options (e.g. `{ ca }` of a TLS topology); plain TCP when absent. */
  tls?: ConnectionOptions | undefined
}

type Parsed = { value: RespReply; end: number } | undefined

function parse(buf: Buffer, start: number): Parsed {
  const lineEnd = buf.indexOf('\r\n', start)
  if (lineEnd < 0) return undefined
  const type = String.fromCharCode(buf[start]!)
  const line = buf.toString('utf8', start + 1, lineEnd)
  const next = lineEnd + 2
  switch (type) {
    case '+':
      return { value: line, end: next }
    case '-':
      return { value: new RespError(line), end: next }
    case ':':
      return { value: Number(line), end: next }
    case '$': {
      const len = Number(line)
      if (len < 0) return { value: null, end: next }
      if (buf.length < next + len + 2) return undefined
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count < 0) return { value: null, end: next }
      const items: RespReply[] = []
      let pos = next
      for (let i = 0; i < count; i++) {
        const item = parse(buf, pos)
        if (!item) return undefined
        items.push(item.value)
        pos = item.end
      }
      return { value: items, end: pos }
    }
    default:
      throw new Error(`@tiercache/testkit: unexpected RESP type byte ${JSON.stringify(type)}`)
  }
}

function encode(args: ReadonlyArray<string | number>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const arg of args) {
    const bytes = Buffer.from(String(arg))
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

interface Pending {
  resolve(value: RespReply): void
  reject(error: Error): void
}

/**
 * A minimal pipelining RESP2 connection: enough for the testkit to drive servers without depending on
 * a Redis client library. Every call has a deadline, so a paused (SIGSTOP) server cannot hang a test.
 */
export class RespConnection {
  readonly host: string
  readonly port: number
  #socket: Socket
  #buffer: Buffer = Buffer.alloc(0)
  #pending: Pending[] = []
  #closed: Error | undefined
  #ready: Promise<void>
  #timeoutMs: number

  private constructor(host: string, port: number, timeoutMs: number, tls: ConnectionOptions | undefined) {
    this.host = host
    this.port = port
    this.#timeoutMs = timeoutMs
    this.#socket = tls ? connectTls({ host, port, ...tls }) : connect({ host, port })
    this.#socket.setNoDelay(true)
    this.#ready = new Promise((resolve, reject) => {
      // over TLS, usable once the handshake (and the certificate check) is done
      this.#socket.once(tls ? 'secureConnect' : 'connect', resolve)
      this.#socket.once('error', reject)
    })
    this.#socket.on('data', (chunk) => this.#onData(chunk))
    this.#socket.on('error', (error) => this.#fail(error))
    this.#socket.on('close', () => this.#fail(new Error(`connection to ${host}:${port} closed`)))
  }

  static async open(host: string, port: number, opts: RespOptions = {}): Promise<RespConnection> {
    const conn = new RespConnection(host, port, opts.timeoutMs ?? 2_000, opts.tls)
    try {
      await withTimeout(conn.#ready, conn.#timeoutMs, `connect to ${host}:${port}`)
      if (opts.password !== undefined) {
        await conn.call(opts.username ? ['AUTH', opts.username, opts.password] : ['AUTH', opts.password])
      }
      return conn
    } catch (error) {
      conn.close()
      throw error
    }
  }

  /** Sends one command; rejects with `RespError` on an error reply, or on timeout/connection loss. */
  async call(args: ReadonlyArray<string | number>, timeoutMs = this.#timeoutMs): Promise<RespReply> {
    const reply = await this.send(args, timeoutMs)
    if (reply instanceof RespError) throw reply
    return reply
  }

  /** Like `call`, but an error reply is returned instead of thrown. */
  send(args: ReadonlyArray<string | number>, timeoutMs = this.#timeoutMs): Promise<RespReply> {
    if (this.#closed) return Promise.reject(this.#closed)
    const reply = new Promise<RespReply>((resolve, reject) => this.#pending.push({ resolve, reject }))
    this.#socket.write(encode(args))
    return withTimeout(reply, timeoutMs, `${String(args[0])} on ${this.host}:${this.port}`).catch((error) => {
      // After a timeout the reply stream is out of step: this connection is done.
      this.close()
      throw error
    })
  }

  close(): void {
    this.#fail(new Error(`connection to ${this.host}:${this.port} closed by client`))
    this.#socket.destroy()
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk
    let pos = 0
    for (;;) {
      const parsed = parse(this.#buffer, pos)
      if (!parsed) break
      pos = parsed.end
      this.#pending.shift()?.resolve(parsed.value)
    }
    this.#buffer = this.#buffer.subarray(pos)
  }

  #fail(error: Error): void {
    if (!this.#closed) this.#closed = error
    const pending = this.#pending
    this.#pending = []
    for (const p of pending) p.reject(error)
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`@tiercache/testkit: ${what} timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** One command on a fresh connection (opened, authenticated, closed). */
export async function command(
  host: string,
  port: number,
  args: ReadonlyArray<string | number>,
  opts: RespOptions = {},
): Promise<RespReply> {
  const conn = await RespConnection.open(host, port, opts)
  try {
    return await conn.call(args)
  } finally {
    conn.close()
  }
}

/** `INFO <section>` parsed into key/value pairs. */
export async function info(host: string, port: number, section: string, opts: RespOptions = {}) {
  const text = String(await command(host, port, ['INFO', section], opts))
  return parseInfo(text)
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

/** A flat `[k1, v1, k2, v2]` array reply (SENTINEL MASTER, ...) as an object. */
export function pairs(reply: RespReply): Record<string, string> {
  const out: Record<string, string> = {}
  if (!Array.isArray(reply)) return out
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1])
  return out
}
