import { createHash } from 'node:crypto'
import { TierCacheError } from '../errors.js'

/**
 * Argument encodings longer than this many UTF-8 bytes are replaced by their SHA-256, so a default key stays
 * far below the 4 KiB key limit (namespace and method name included) and remote keys stay cheap to compare.
 */
export const HASH_ENCODINGS_OVER_BYTES = 512

/** Marks a hashed encoding; `#` cannot start an encoding (see `encodeValue`), so the two never collide. */
const HASH_MARKER = '#sha256:'

const plainPrototypes: ReadonlySet<unknown> = new Set([Object.prototype, null])

/**
 * The default key of a decorated method: `name:` + the stable encoding of its arguments, where `name` is
 * `ClassName.method` (or the decorator's `keyPrefix`). Use it in `@Invalidate({ keys })` to drop an entry
 * that `@Cached` stored under its default key: `keys: (id: string) => defaultKey('UserService.getUser', [id])`.
 */
export function defaultKey(name: string, args: readonly unknown[]): string {
  return `${name}:${encodeArgs(args, `${name} argument`)}`
}

/**
 * A stable, injective-in-practice encoding of an argument list:
 * - arguments are joined by `,` and every string is JSON-quoted, so boundaries survive
 *   (`('a','bc')` → `"a","bc"`, `('ab','c')` → `"ab","c"`); trailing `undefined` arguments are dropped, since
 *   `f(1)` and `f(1, undefined)` are the same call to a JavaScript function;
 * - plain objects are encoded structurally with sorted keys (`{b:1,a:2}` and `{a:2,b:1}` give one key);
 *   properties whose value is `undefined` are left out, as JSON does;
 * - numbers, `-0`/`NaN`/`Infinity`, bigint (`5n`), `undefined`, `null`, booleans, Dates (ISO), Maps and Sets
 *   (entries sorted by their encoding, so insertion order does not matter), arrays, typed arrays (base64),
 *   RegExps, objects with `toJSON` (`ClassName(…)`) and other class instances (`ClassName{…}`) each have
 *   their own tagged form, so `1` ≠ `'1'` ≠ `1n` and `[]` ≠ `{}` ≠ `new Set()`;
 * - functions, symbols, promises, weak collections and cycles cannot be encoded: KEY_ENCODING_FAILED.
 * Encodings longer than {@link HASH_ENCODINGS_OVER_BYTES} bytes become `#sha256:<base64url digest>`.
 * `where` names the arguments in error messages (e.g. `UserService.find argument`).
 */
export function encodeArgs(args: readonly unknown[], where = 'argument'): string {
  let end = args.length
  while (end > 0 && args[end - 1] === undefined) end--
  // The hot case (one string or number) skips the array walk.
  let encoded: string
  if (end === 0) encoded = ''
  else if (end === 1) encoded = encodeValue(args[0], [], `${where} 1`)
  else {
    const parts = new Array<string>(end)
    for (let i = 0; i < end; i++) parts[i] = encodeValue(args[i], [], `${where} ${i + 1}`)
    encoded = parts.join(',')
  }
  if (
    encoded.length * 3 > HASH_ENCODINGS_OVER_BYTES &&
    Buffer.byteLength(encoded) > HASH_ENCODINGS_OVER_BYTES
  ) {
    return HASH_MARKER + createHash('sha256').update(encoded).digest('base64url')
  }
  return encoded
}

function encodeValue(value: unknown, ancestors: object[], path: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      // JSON turns NaN/Infinity into null; String() keeps them apart. -0 and 0 are one key, as in a Map.
      return String(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      return `${value}n`
    case 'undefined':
      return 'undefined'
    case 'function':
      throw unencodable(path, `a function${value.name ? ` (${value.name})` : ''}`)
    case 'symbol':
      throw unencodable(path, `a symbol (${String(value)})`)
  }
  if (value === null) return 'null'
  const object = value as object
  if (ancestors.includes(object)) throw unencodable(path, 'a cyclic structure')
  ancestors.push(object)
  try {
    return encodeObject(object, ancestors, path)
  } finally {
    ancestors.pop()
  }
}

function encodeObject(object: object, ancestors: object[], path: string): string {
  if (Array.isArray(object)) {
    const parts = new Array<string>(object.length)
    // A hole encodes like undefined: [ , 1] and [undefined, 1] are the same argument to most code.
    for (let i = 0; i < object.length; i++) parts[i] = encodeValue(object[i], ancestors, `${path}[${i}]`)
    return `[${parts.join(',')}]`
  }
  if (object instanceof Date) {
    const time = object.getTime()
    return `Date(${Number.isNaN(time) ? 'NaN' : object.toISOString()})`
  }
  if (object instanceof Map) {
    const entries: string[] = []
    for (const [key, entry] of object) {
      const name = `${path}.get(${entries.length})`
      entries.push(`${encodeValue(key, ancestors, name)}=>${encodeValue(entry, ancestors, name)}`)
    }
    return `Map{${entries.sort().join(',')}}`
  }
  if (object instanceof Set) {
    const items: string[] = []
    for (const item of object) items.push(encodeValue(item, ancestors, `${path}.values()[${items.length}]`))
    return `Set{${items.sort().join(',')}}`
  }
  if (ArrayBuffer.isView(object)) {
    const bytes = Buffer.from(object.buffer, object.byteOffset, object.byteLength)
    return `${constructorName(object)}(${bytes.toString('base64')})`
  }
  if (object instanceof ArrayBuffer) return `ArrayBuffer(${Buffer.from(object).toString('base64')})`
  if (object instanceof RegExp) return `RegExp(${JSON.stringify(object.source)},${object.flags})`
  if (object instanceof Promise || typeof (object as { then?: unknown }).then === 'function') {
    throw unencodable(path, 'a promise (await it before calling the method)')
  }
  if (object instanceof WeakMap || object instanceof WeakSet || object instanceof WeakRef) {
    throw unencodable(path, `a ${constructorName(object)}, whose contents cannot be listed`)
  }
  if (object instanceof String || object instanceof Number || object instanceof Boolean) {
    return `${constructorName(object)}(${encodeValue(object.valueOf(), ancestors, path)})`
  }
  const proto = Object.getPrototypeOf(object)
  const toJSON = (object as { toJSON?: unknown }).toJSON
  if (typeof toJSON === 'function') {
    // Value objects (ObjectId, Decimal, URL, Luxon DateTime, …) say what identifies them through toJSON.
    return `${constructorName(object)}(${encodeValue(toJSON.call(object), ancestors, `${path}.toJSON()`)})`
  }
  const keys = Object.keys(object).sort()
  const parts: string[] = []
  for (const key of keys) {
    const entry = (object as Record<string, unknown>)[key]
    if (entry === undefined) continue
    parts.push(`${JSON.stringify(key)}:${encodeValue(entry, ancestors, `${path}.${key}`)}`)
  }
  const body = `{${parts.join(',')}}`
  return plainPrototypes.has(proto) ? body : `${constructorName(object)}${body}`
}

function constructorName(object: object): string {
  const name = (object as { constructor?: { name?: unknown } }).constructor?.name
  return typeof name === 'string' && name !== '' ? name : 'Object'
}

function unencodable(path: string, what: string): TierCacheError {
  return new TierCacheError(
    'KEY_ENCODING_FAILED',
    `${path} is ${what}, which cannot be part of a default cache key; pass a \`key\` function to the decorator`,
  )
}
