import { Packr } from 'msgpackr'
import { describe } from '../duration.js'
import { TierCacheError } from '../errors.js'

/** Turns values into bytes and back. `decode` may throw on bytes it did not write; the engine treats that as a miss. */
export interface Serializer {
  readonly name: string
  encode(value: unknown): Uint8Array
  decode(bytes: Uint8Array): unknown
}

export type SerializerOption = 'msgpack' | 'json' | Serializer

// Records on (so plain objects and Maps stay distinct: objects travel as records, Maps as msgpack maps),
// but with no shared structure table (maxSharedStructures 0): every record carries its own definition
// inline, so bytes written by one process decode in any other. moreTypes: Sets, typed arrays, Errors;
// useBigIntExtension: bigints of any size.
const packr = new Packr({ structures: [], maxSharedStructures: 0, moreTypes: true, useBigIntExtension: true })

export const msgpackSerializer: Serializer = {
  name: 'msgpack',
  encode: (value) => packr.pack(value),
  decode: (bytes) => packr.unpack(bytes as Buffer),
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

export const jsonSerializer: Serializer = {
  name: 'json',
  encode: (value) => {
    const text = JSON.stringify(value)
    // JSON.stringify returns undefined for functions/symbols: that is a value JSON cannot hold.
    if (text === undefined) throw new TypeError(`JSON cannot encode ${typeof value}`)
    return textEncoder.encode(text)
  },
  decode: (bytes) => JSON.parse(textDecoder.decode(bytes)),
}

export function resolveSerializer(option: SerializerOption | undefined): Serializer {
  if (option === undefined || option === 'msgpack') return msgpackSerializer
  if (option === 'json') return jsonSerializer
  if (
    typeof option === 'object' &&
    option !== null &&
    typeof option.encode === 'function' &&
    typeof option.decode === 'function'
  ) {
    return {
      name: option.name ?? 'custom',
      encode: option.encode.bind(option),
      decode: option.decode.bind(option),
    }
  }
  throw new TierCacheError(
    'INVALID_OPTION',
    `serializer must be 'msgpack', 'json' or { encode, decode }, got ${describe(option)}`,
  )
}

/** Values msgpack would silently turn into something else; rejected so a round trip never changes a value. */
function assertEncodable(value: unknown, seen: Set<object>, depth: number): void {
  const type = typeof value
  if (type === 'function' || type === 'symbol') throw new TypeError(`a ${type} cannot be cached`)
  if (type !== 'object' || value === null || depth > 64) return
  const object = value as object
  if (ArrayBuffer.isView(object) || object instanceof Date || object instanceof RegExp) return
  if (seen.has(object)) throw new TypeError('a value with a reference cycle cannot be cached')
  seen.add(object)
  if (object instanceof Map) {
    for (const [k, v] of object) {
      assertEncodable(k, seen, depth + 1)
      assertEncodable(v, seen, depth + 1)
    }
  } else if (object instanceof Set || Array.isArray(object)) {
    for (const item of object as Iterable<unknown>) assertEncodable(item, seen, depth + 1)
  } else {
    for (const key in object) {
      // msgpackr renames an own '__proto__' key to '__proto_' on decode (its prototype-pollution guard).
      if (key === '__proto__') throw new TypeError(`an object with an own '__proto__' key cannot be cached`)
      assertEncodable((object as Record<string, unknown>)[key], seen, depth + 1)
    }
  }
  seen.delete(object)
}

/** Encodes or throws SERIALIZE_FAILED with the reason. The msgpack check walks the value only for objects. */
export function encodeValue(serializer: Serializer, value: unknown): Uint8Array {
  try {
    if (serializer === msgpackSerializer && typeof value !== 'string' && typeof value !== 'number') {
      assertEncodable(value, new Set(), 0)
    }
    const bytes = serializer.encode(value)
    // A custom encode returning a string (or anything else) would be stored as garbage bytes.
    if (!(bytes instanceof Uint8Array))
      throw new TypeError(`encode returned ${describe(bytes)}, not a Uint8Array`)
    return bytes
  } catch (error) {
    throw new TierCacheError(
      'SERIALIZE_FAILED',
      `the ${serializer.name} serializer cannot encode this value: ${(error as Error)?.message ?? error}`,
      {
        cause: error,
      },
    )
  }
}
