import { TierCacheError } from '../errors.js'
import type { ParsedStoreUrl } from '../store/remote-store.js'

/** Which package serves which URL scheme, and the default port of its hosts. */
export const SCHEMES: Readonly<
  Record<string, { readonly adapter: string; readonly defaultPort: number; readonly tls: boolean }>
> = {
  memory: { adapter: '@tiercache/core', defaultPort: 0, tls: false },
  redis: { adapter: '@tiercache/redis', defaultPort: 6379, tls: false },
  rediss: { adapter: '@tiercache/redis', defaultPort: 6379, tls: true },
  valkey: { adapter: '@tiercache/redis', defaultPort: 6379, tls: false },
  valkeys: { adapter: '@tiercache/redis', defaultPort: 6379, tls: true },
  'redis+sentinel': { adapter: '@tiercache/sentinel', defaultPort: 26379, tls: false },
  'rediss+sentinel': { adapter: '@tiercache/sentinel', defaultPort: 26379, tls: true },
  'valkey+sentinel': { adapter: '@tiercache/sentinel', defaultPort: 26379, tls: false },
  'redis+cluster': { adapter: '@tiercache/cluster', defaultPort: 6379, tls: false },
  'rediss+cluster': { adapter: '@tiercache/cluster', defaultPort: 6379, tls: true },
  'valkey+cluster': { adapter: '@tiercache/cluster', defaultPort: 6379, tls: false },
}

/** Query parameters whose value is a credential (`sentinelPassword`, …): masked by `redactUrl`. */
const SECRET_PARAM = /pass|secret|token|credential/i

/**
 * Masks the credentials of a store URL so it can appear in errors, logs and `toString()`: the password of
 * `user:pass@` (the user name stays) and the value of every query parameter named like a secret
 * (`sentinelPassword=***`). Written for malformed URLs too, since those are the ones that end up in error
 * messages: credentials end at the last `@` before the query (as `parseStoreUrl` reads them), or — for a
 * password with an unencoded `?` — at an `@` inside what would be the query; a string without a scheme is
 * read the same way. When in doubt it masks more, never less.
 */
export function redactUrl(url: string): string {
  const text = String(url)
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)
  const start = scheme ? scheme[0].length : 0
  let queryAt = text.indexOf('?', start)
  let authEnd = text.lastIndexOf('@', queryAt < 0 ? text.length : queryAt)
  if (queryAt >= 0) {
    const atInQuery = text.indexOf('@', queryAt)
    // `?` before the first `@` with no `=`/`&` in between: not a query but a password with a `?` in it.
    if (atInQuery >= 0 && authEnd < start && !/[=&]/.test(text.slice(queryAt, atInQuery))) {
      authEnd = text.lastIndexOf('@')
      queryAt = text.indexOf('?', authEnd)
    }
  }
  let head = queryAt < 0 ? text : text.slice(0, queryAt)
  if (authEnd >= start) {
    const colon = text.slice(start, authEnd).indexOf(':')
    if (colon >= 0) head = `${text.slice(0, start + colon + 1)}***${head.slice(authEnd)}`
  }
  if (queryAt < 0) return head
  const params = text
    .slice(queryAt + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      if (eq < 0) return pair
      let name = pair.slice(0, eq)
      try {
        name = decodeURIComponent(name.replace(/\+/g, ' '))
      } catch {
        // A malformed name is shown as written; only its spelling decides the masking below.
      }
      return SECRET_PARAM.test(name) ? `${pair.slice(0, eq)}=***` : pair
    })
  return `${head}?${params.join('&')}`
}

/**
 * Parses `scheme://[user:pass@]h1:p1,h2:p2[/path][?query]`. WHATWG `URL` rejects host lists, so this is a
 * small parser of our own; it throws UNKNOWN_SCHEME or INVALID_URL, never a bare TypeError.
 */
export function parseStoreUrl(url: string): ParsedStoreUrl {
  if (typeof url !== 'string') throw new TierCacheError('INVALID_URL', `a store URL must be a string`)
  const shown = redactUrl(url)
  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url.trim())
  if (!schemeMatch)
    throw new TierCacheError('INVALID_URL', `'${shown}' is not a URL (expected scheme://host:port)`)
  const scheme = schemeMatch[1]!.toLowerCase()
  const info = SCHEMES[scheme]
  if (!info) {
    throw new TierCacheError(
      'UNKNOWN_SCHEME',
      `unknown store scheme '${scheme}://' in '${shown}'; expected one of ${Object.keys(SCHEMES)
        .map((s) => `${s}://`)
        .join(', ')}`,
    )
  }
  let rest = schemeMatch[2]!
  let query = ''
  const queryAt = rest.indexOf('?')
  if (queryAt >= 0) {
    query = rest.slice(queryAt + 1)
    rest = rest.slice(0, queryAt)
  }
  let username: string | undefined
  let password: string | undefined
  const authAt = rest.lastIndexOf('@')
  if (authAt >= 0) {
    const auth = rest.slice(0, authAt)
    rest = rest.slice(authAt + 1)
    const colon = auth.indexOf(':')
    const user = decode(colon >= 0 ? auth.slice(0, colon) : auth, shown)
    if (user !== '') username = user
    if (colon >= 0) password = decode(auth.slice(colon + 1), shown)
  }
  const slash = rest.indexOf('/')
  const hostList = slash >= 0 ? rest.slice(0, slash) : rest
  const path = slash >= 0 ? decode(rest.slice(slash + 1).replace(/\/+$/, ''), shown) : ''
  const params: Record<string, string> = {}
  for (const [key, value] of new URLSearchParams(query)) params[key] = value

  const hosts =
    scheme === 'memory' ? [] : hostList.split(',').map((entry) => parseHost(entry, info.defaultPort, shown))
  if (scheme !== 'memory' && hosts.length === 0)
    throw new TierCacheError('INVALID_URL', `no host in '${shown}'`)
  if (scheme.endsWith('+sentinel') && path === '') {
    throw new TierCacheError(
      'INVALID_URL',
      `'${shown}' needs the sentinel master name as its path, e.g. /mymaster`,
    )
  }
  if (scheme === 'redis' || scheme === 'rediss' || scheme === 'valkey' || scheme === 'valkeys') {
    if (path !== '' && !/^\d+$/.test(path))
      throw new TierCacheError('INVALID_URL', `the path of '${shown}' must be a db number`)
    // A standalone URL names one server, with or without a db path.
    if (hosts.length > 1)
      throw new TierCacheError(
        'INVALID_URL',
        `'${shown}' lists several hosts; use redis+sentinel:// or redis+cluster://`,
      )
  }
  return {
    scheme,
    tls: info.tls,
    hosts,
    path: scheme === 'memory' ? hostList : path,
    params,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
  }
}

function parseHost(entry: string, defaultPort: number, shown: string): { host: string; port: number } {
  const text = entry.trim()
  let host: string
  let portText: string | undefined
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    if (close < 0) throw new TierCacheError('INVALID_URL', `unclosed IPv6 bracket in '${shown}'`)
    host = text.slice(1, close)
    const after = text.slice(close + 1)
    if (after !== '' && !after.startsWith(':'))
      throw new TierCacheError('INVALID_URL', `bad host ${quoted(text, shown)}in '${shown}'`)
    portText = after === '' ? undefined : after.slice(1)
  } else {
    const colon = text.lastIndexOf(':')
    host = colon >= 0 ? text.slice(0, colon) : text
    portText = colon >= 0 ? text.slice(colon + 1) : undefined
  }
  if (host === '' || /[\s/@?#]/.test(host))
    throw new TierCacheError('INVALID_URL', `bad host ${quoted(text, shown)}in '${shown}'`)
  const port = portText === undefined ? defaultPort : Number(portText)
  if (!/^\d+$/.test(portText ?? String(defaultPort)) || port < 1 || port > 65535) {
    throw new TierCacheError('INVALID_URL', `bad port ${quoted(portText ?? '', shown)}in '${shown}'`)
  }
  return { host, port }
}

/**
 * A piece of the URL for an error message, or nothing when the redacted URL does not show it: a piece of a
 * URL that `redactUrl` masked (a password with an unencoded `?` read as a host) must not come back here.
 */
function quoted(piece: string, shown: string): string {
  return piece !== '' && shown.includes(piece) ? `'${piece}' ` : ''
}

function decode(text: string, shown: string): string {
  try {
    return decodeURIComponent(text)
  } catch (error) {
    throw new TierCacheError('INVALID_URL', `bad percent-encoding in '${shown}'`, { cause: error })
  }
}

/**
 * Throws INVALID_URL for a query parameter the adapter does not know: a misspelled option must be loud, not
 * silently ignored. Adapters call it with the parameters they read.
 */
export function assertKnownParams(
  parsed: ParsedStoreUrl | undefined,
  known: Iterable<string>,
  adapter: string,
): void {
  if (parsed === undefined) return
  const allowed = new Set(known)
  for (const name of Object.keys(parsed.params)) {
    if (!allowed.has(name)) {
      throw new TierCacheError(
        'INVALID_URL',
        `${adapter}: unknown URL parameter '${name}'; known: ${[...allowed].sort().join(', ')}`,
      )
    }
  }
}
