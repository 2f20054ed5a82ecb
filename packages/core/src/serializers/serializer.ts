import { Packr, Unpackr } from 'msgpackr'
import { describe } from '../duration.js'
import { isTierCacheError, TierCacheError } from '../errors.js'
import { isWellFormed } from '../keys.js'

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
// Decoding reads bytes anyone with store access may have written, so it has its own instance: the record
// definitions a foreign payload declares never reach the encoder's state. structuredClone: false refuses the
// id/pointer extensions (0x69/0x70), with which a payload builds reference cycles that no tiercache writer
// produces (msgpackr decodes them by default). The other extensions msgpackr always decodes build only data:
// Date, Set, Map, typed arrays, bigint, RegExp (`new RegExp(source, flags)`, never run) and Error (msgpackr
// looks the name up in its own table of Error constructors). `__proto__` keys are renamed `__proto_`.
// copyBuffers: a Buffer value (msgpack bin) is a copy, not a view into the stored bytes — a caller that
// writes into it must not change the entry held by memory://, nor keep a whole Redis reply alive.
const unpackr = new Unpackr({
  structures: [],
  maxSharedStructures: 0,
  structuredClone: false,
  copyBuffers: true,
})

export const msgpackSerializer: Serializer = {
  name: 'msgpack',
  encode: (value) => packr.pack(value),
  // A Buffer in, so a Buffer value comes back as a Buffer from every store (msgpackr gives bin data the
  // class of its input: Redis replies are Buffers, memory:// holds Uint8Arrays).
  decode: (bytes) =>
    unpackr.unpack(
      Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    ),
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

/**
 * JSON.parse makes an own `__proto__` property (no pollution by itself), but an application that merges
 * the value (Object.assign, a deep merge) would then set a prototype from cached data. Such keys are refused
 * both ways: an encode is SERIALIZE_FAILED, stored text holding one does not decode (a miss). The reviver is
 * slow, so it only runs on text that could spell the key: literally or through a `\u` escape.
 */
function refuseProtoKey(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new TypeError(`an object with an own '__proto__' key cannot be cached`)
  return value
}

const mayHoldProtoKey = (text: string) => text.includes('__proto__') || text.includes('\\u')

export const jsonSerializer: Serializer = {
  name: 'json',
  encode: (value) => {
    const text = JSON.stringify(value)
    // JSON.stringify returns undefined for functions/symbols: that is a value JSON cannot hold.
    if (text === undefined) throw new TypeError(`JSON cannot encode ${typeof value}`)
    if (text.includes('__proto__')) JSON.parse(text, refuseProtoKey)
    return textEncoder.encode(text)
  },
  decode: (bytes) => {
    const text = textDecoder.decode(bytes)
    return mayHoldProtoKey(text) ? JSON.parse(text, refuseProtoKey) : JSON.parse(text)
  },
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

/** Deepest nesting the msgpack check walks (and accepts): bounded, so the walk itself cannot overflow the stack. */
const MAX_DEPTH = 1000

/**
 * Values msgpack would silently turn into something else; rejected so a round trip never changes a value.
 * One exception, documented: -0 is read back as 0 (msgpackr writes it as the integer 0, and refusing it would
 * fail requests over `Math.round(-0.4)`).
 */
function assertEncodable(value: unknown, seen: Set<object>, depth: number): void {
  const type = typeof value
  if (type === 'string') {
    // UTF-8 cannot hold a lone surrogate: msgpack would store U+FFFD in its place.
    if (!isWellFormed(value as string)) throw new TypeError('a string with a lone surrogate cannot be cached')
    return
  }
  if (type === 'function' || type === 'symbol') throw new TypeError(`a ${type} cannot be cached`)
  if (type !== 'object' || value === null) return
  if (depth > MAX_DEPTH)
    throw new TypeError(`a value nested deeper than ${MAX_DEPTH} levels cannot be cached`)
  const object = value as object
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) return
  if (object instanceof Date || object instanceof RegExp) return
  if (seen.has(object)) throw new TypeError('a value with a reference cycle cannot be cached')
  seen.add(object)
  if (object instanceof Map) {
    for (const [k, v] of object) {
      assertEncodable(k, seen, depth + 1)
      assertEncodable(v, seen, depth + 1)
    }
  } else if (object instanceof Set) {
    for (const item of object) assertEncodable(item, seen, depth + 1)
  } else if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++) {
      // A hole would come back as an own `undefined` element.
      if (!(i in object)) throw new TypeError('a sparse array (with holes) cannot be cached')
      assertEncodable(object[i], seen, depth + 1)
    }
  } else if (object instanceof Error) {
    // Carried as name, message and cause (documented); the cause must be encodable too.
    assertEncodable((object as { cause?: unknown }).cause, seen, depth + 1)
  } else {
    const proto = Object.getPrototypeOf(object)
    if (proto !== Object.prototype) {
      // A class instance (or a boxed primitive, a Promise, an object without prototype) would come back as
      // a plain object: its prototype, methods and non-own state lost.
      const name = proto === null ? 'an object without prototype' : `a ${describeClass(proto)} instance`
      throw new TypeError(`${name} would come back as a plain object; cache plain data`)
    }
    if (Object.getOwnPropertySymbols(object).length > 0)
      throw new TypeError('an object with symbol keys cannot be cached (they would be dropped)')
    for (const key in object) {
      // msgpackr renames an own '__proto__' key to '__proto_' on decode (its prototype-pollution guard).
      if (key === '__proto__') throw new TypeError(`an object with an own '__proto__' key cannot be cached`)
      if (!isWellFormed(key)) throw new TypeError('an object key with a lone surrogate cannot be cached')
      assertEncodable((object as Record<string, unknown>)[key], seen, depth + 1)
    }
  }
  seen.delete(object)
}

function describeClass(proto: object): string {
  const name = (proto as { constructor?: { name?: unknown } }).constructor?.name
  return typeof name === 'string' && name !== '' ? name : 'class'
}

/** Encodes or throws SERIALIZE_FAILED with the reason (VALUE_TOO_LARGE from a size limit passes unchanged). */
export function encodeValue(serializer: Serializer, value: unknown): Uint8Array {
  try {
    if ((limitedInner.get(serializer) ?? serializer) === msgpackSerializer && typeof value !== 'number') {
      assertEncodable(value, new Set(), 0)
    }
    const bytes = serializer.encode(value)
    // A custom encode returning a string (or anything else) would be stored as garbage bytes.
    if (!(bytes instanceof Uint8Array))
      throw new TypeError(`encode returned ${describe(bytes)}, not a Uint8Array`)
    return bytes
  } catch (error) {
    if (isTierCacheError(error, 'VALUE_TOO_LARGE')) throw error
    throw new TierCacheError(
      'SERIALIZE_FAILED',
      `the ${serializer.name} serializer cannot encode this value: ${(error as Error)?.message ?? error}`,
      {
        cause: error,
      },
    )
  }
}

/** Default `maxValueBytes`: 16 MiB of encoded value. */
export const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024

/** A limited serializer → the serializer it wraps (so encodeValue knows the msgpack checks apply). */
const limitedInner = new WeakMap<Serializer, Serializer>()

/**
 * The serializer with a size bound: an encoding longer than `maxBytes` is VALUE_TOO_LARGE, and stored bytes
 * longer than it are refused before decoding (the engine reports that as DESERIALIZE_FAILED, a miss), so a
 * foreign 500 MB value costs no decode and no heap for its decoded form.
 */
export function limitSerializer(serializer: Serializer, maxBytes: number): Serializer {
  const limited: Serializer = {
    name: serializer.name,
    encode: (value) => {
      const bytes = serializer.encode(value)
      if (bytes instanceof Uint8Array && bytes.length > maxBytes) {
        const error = new TierCacheError(
          'VALUE_TOO_LARGE',
          `the value is ${bytes.length} bytes encoded, the limit is ${maxBytes} (maxValueBytes)`,
        )
        throw error
      }
      return bytes
    },
    decode: (bytes) => {
      if (bytes.length > maxBytes)
        throw new TierCacheError(
          'VALUE_TOO_LARGE',
          `the stored value is ${bytes.length} bytes, the limit is ${maxBytes} (maxValueBytes); not decoded`,
        )
      return serializer.decode(bytes)
    },
  }
  limitedInner.set(limited, serializer)
  return limited
}
