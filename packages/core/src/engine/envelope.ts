/**
 * The bytes tiercache keeps in the remote tier for one entry: a small binary header, then the serializer's
 * payload. The header carries what the engine needs to decide freshness without decoding the value:
 *
 *   0xC1 | version (1) | flags | expiresAt f64 | staleUntil f64 | [tag count u16 | (len u16, utf8, gen f64)*] | payload
 *
 * 0xC1 is the one byte MessagePack never uses, and no JSON text or UTF-8 string starts with it, so bytes
 * written by a foreign client are recognised as foreign instead of being misread.
 */
export const ENVELOPE_MAGIC = 0xc1
const VERSION = 1
const FLAG_TAGS = 1
const FIXED_HEADER = 3 + 8 + 8

export interface EnvelopeHeader {
  /** Epoch ms after which the value is stale. */
  readonly expiresAt: number
  /** Epoch ms until which a stale value may still be served (expiresAt + grace). */
  readonly staleUntil: number
  /** Tag names and the generation each had when the value was written. */
  readonly tags: readonly string[] | undefined
  readonly generations: readonly number[] | undefined
}

export interface DecodedEnvelope extends EnvelopeHeader {
  readonly payload: Uint8Array
}

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeEnvelope(header: EnvelopeHeader, payload: Uint8Array): Uint8Array {
  const tags = header.tags
  let tagBytes: Uint8Array[] | undefined
  let size = FIXED_HEADER + payload.length
  if (tags !== undefined && tags.length > 0) {
    tagBytes = tags.map((tag) => utf8.encode(tag))
    size += 2
    for (const bytes of tagBytes) size += 2 + bytes.length + 8
  }
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  out[0] = ENVELOPE_MAGIC
  out[1] = VERSION
  out[2] = tagBytes ? FLAG_TAGS : 0
  view.setFloat64(3, header.expiresAt)
  view.setFloat64(11, header.staleUntil)
  let offset = FIXED_HEADER
  if (tagBytes) {
    view.setUint16(offset, tagBytes.length)
    offset += 2
    for (let i = 0; i < tagBytes.length; i++) {
      const bytes = tagBytes[i]!
      view.setUint16(offset, bytes.length)
      out.set(bytes, offset + 2)
      offset += 2 + bytes.length
      view.setFloat64(offset, header.generations?.[i] ?? -1)
      offset += 8
    }
  }
  out.set(payload, offset)
  return out
}

// One scratch float for reading header fields: decoding allocates no DataView per entry (remote-hit path).
const scratch = new Float64Array(1)
const scratchBytes = new Uint8Array(scratch.buffer)
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** The big-endian f64 at `offset` (the caller checked the bounds). */
function readFloat64(bytes: Uint8Array, offset: number): number {
  if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) scratchBytes[i] = bytes[offset + 7 - i]!
  else for (let i = 0; i < 8; i++) scratchBytes[i] = bytes[offset + i]!
  return scratch[0]!
}

function readUint16(bytes: Uint8Array, offset: number): number {
  if (offset + 2 > bytes.length) throw new RangeError('truncated tiercache entry')
  return (bytes[offset]! << 8) | bytes[offset + 1]!
}

/** Decodes the header; throws a RangeError on bytes tiercache did not write (the engine counts a miss). */
export function decodeEnvelope(bytes: Uint8Array): DecodedEnvelope {
  if (bytes.length < FIXED_HEADER || bytes[0] !== ENVELOPE_MAGIC)
    throw new RangeError('not a tiercache entry')
  if (bytes[1] !== VERSION) throw new RangeError(`unsupported tiercache entry version ${bytes[1]}`)
  const expiresAt = readFloat64(bytes, 3)
  const staleUntil = readFloat64(bytes, 11)
  let offset = FIXED_HEADER
  let tags: string[] | undefined
  let generations: number[] | undefined
  if (bytes[2]! & FLAG_TAGS) {
    const count = readUint16(bytes, offset)
    offset += 2
    tags = new Array(count)
    generations = new Array(count)
    for (let i = 0; i < count; i++) {
      const length = readUint16(bytes, offset)
      if (offset + 2 + length + 8 > bytes.length) throw new RangeError('truncated tiercache entry')
      tags[i] = utf8Decoder.decode(bytes.subarray(offset + 2, offset + 2 + length))
      offset += 2 + length
      generations[i] = readFloat64(bytes, offset)
      offset += 8
    }
  }
  if (!Number.isFinite(expiresAt) || !Number.isFinite(staleUntil))
    throw new RangeError('corrupt tiercache entry header')
  return { expiresAt, staleUntil, tags, generations, payload: bytes.subarray(offset) }
}
