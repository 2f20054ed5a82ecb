/**
 * The `error.type` of an error, low-cardinality as OTel asks: a TierCacheError's or Node's `code`
 * (`STORE_UNAVAILABLE`, `ECONNREFUSED`), else the error class name (`ReplyError`, `TypeError`), else `_OTHER`.
 */
export function errorType(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code
    if (typeof code === 'string' && code.length > 0 && code.length <= 64) return code
    const name = (error as { name?: unknown }).name
    if (typeof name === 'string' && name.length > 0 && name.length <= 64) return name
    const ctor = (error as { constructor?: { name?: unknown } }).constructor?.name
    if (typeof ctor === 'string' && ctor.length > 0) return ctor
  }
  return '_OTHER'
}
