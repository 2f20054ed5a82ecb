import { msgpackSerializer } from '@tiercache/core'

/**
 * The raw-client baseline's decoding of a tiercache entry: what any reader of these bytes must do at
 * least — check the header, read the two timestamps, skip the (absent) tags, unpack the payload with the
 * same msgpack serializer. Written for the baseline (core keeps its envelope codec private); it handles
 * untagged entries, which is all the remote-hit scenario stores.
 */
export function decodeUntaggedEntry(bytes: Uint8Array): unknown {
  if (bytes.length < 19 || bytes[0] !== 0xc1 || bytes[1] !== 1 || bytes[2] !== 0)
    throw new RangeError('not an untagged tiercache entry')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const expiresAt = view.getFloat64(3)
  const staleUntil = view.getFloat64(11)
  if (!(expiresAt > Date.now()) || !Number.isFinite(staleUntil)) return undefined
  return msgpackSerializer.decode(bytes.subarray(19))
}
